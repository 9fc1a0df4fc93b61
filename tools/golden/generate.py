#!/usr/bin/python3
"""Golden files for @normlab/norm-layers, written with PyTorch (Debian's python3-torch 1.13).

Run:  /usr/bin/python3 tools/golden/generate.py      (writes tools/golden/norm-layers.json)

For each case: the layer's configuration and initial parameters; several training steps (input
of each; after the last: output, upstream gradient, input and parameter gradients); running
statistics after the steps; then eval mode: input, output and gradients. Layers PyTorch has
(BatchNorm1d/2d, GroupNorm, InstanceNorm2d) are PyTorch's own modules. GN+ is the authors'
formulas (agusgun/CS-570-Project, src/norm/norm_layer.py, GNPlusSequentialGNFirst and its
bn-first / parallel siblings) with the blend weight sigma(rho) or the raw lambda, HybridNorm and
BatchGroupNorm are written from their definitions with torch autograd ops. Large-mean cases keep
a float64 reference (torch double) beside PyTorch's own float32 result.

Tensors are stored as {"shape", "dtype", "b64"}: little-endian float32/float64 bytes in base64.
"""
import base64
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'norm-layers.json')


def enc(t):
    t = t.detach().contiguous()
    dtype = 'float64' if t.dtype == torch.float64 else 'float32'
    arr = t.to(torch.float64 if dtype == 'float64' else torch.float32).numpy()
    return {'shape': list(t.shape), 'dtype': dtype, 'b64': base64.b64encode(arr.astype('<f8' if dtype == 'float64' else '<f4').tobytes()).decode()}


# ---------------------------------------------------------------------------------------------
# Reference modules for the layers PyTorch does not have.

class GNPlusRef(nn.Module):
    """The authors' GN+ forward; torch autograd gives the gradients."""

    def __init__(self, groups, channels, eps=1e-5, order='gn-first', parameterization='sigmoid'):
        super().__init__()
        self.groups, self.eps, self.order, self.parameterization = groups, eps, order, parameterization
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.rho = nn.Parameter(torch.tensor([1.0 if parameterization == 'sigmoid' else 0.5]))

    def gn(self, x):
        N, C, H, W = x.size()
        g = x.view(N, self.groups, C // self.groups, H, W)
        mean = g.mean(dim=[2, 3, 4], keepdim=True)
        std = g.std(dim=[2, 3, 4], keepdim=True)  # unbiased, as the authors'
        return ((g - mean) / (std + self.eps)).view(N, C, H, W)

    def bstage(self, x):
        mean = x.mean(dim=0, keepdim=True)
        std = x.std(dim=0, keepdim=True)
        return (x - mean) / (std + self.eps)

    def forward(self, x):
        if self.order == 'gn-first':
            u = self.gn(x)
            v = self.bstage(u)
        elif self.order == 'bn-first':
            v = self.bstage(x)
            u = self.gn(v)
        else:
            u = self.gn(x)
            v = self.bstage(x)
        w = torch.sigmoid(self.rho[0]) if self.parameterization == 'sigmoid' else self.rho[0]
        return (w * u + (1 - w) * v) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class HybridRef(nn.Module):
    """PyTorch GN, then per-channel BN with running statistics, blended by sigmoid(rho)."""

    def __init__(self, groups, channels, eps=1e-5, momentum=0.1, blend='layer'):
        super().__init__()
        self.groups, self.eps, self.momentum, self.blend = groups, eps, momentum, blend
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        if not isinstance(blend, float):
            self.rho = nn.Parameter(torch.ones(1 if blend == 'layer' else channels))
        self.register_buffer('running_mean', torch.zeros(channels))
        self.register_buffer('running_var', torch.ones(channels))
        self.register_buffer('num_batches_tracked', torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        u = F.group_norm(x, self.groups, None, None, self.eps)
        if self.training:
            self.num_batches_tracked += 1
        mom = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        v = F.batch_norm(u, self.running_mean, self.running_var, None, None, self.training, mom, self.eps)
        if isinstance(self.blend, float):
            w = torch.tensor(self.blend, dtype=x.dtype)
        else:
            w = torch.sigmoid(self.rho).view(1, -1, 1, 1)
        return (w * u + (1 - w) * v) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class BGNRef(nn.Module):
    """BatchGroupNorm: statistics per group over (N, C/G, H, W); running statistics per group."""

    def __init__(self, groups, channels, eps=1e-5, momentum=0.1):
        super().__init__()
        self.groups, self.eps, self.momentum = groups, eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer('running_mean', torch.zeros(groups))
        self.register_buffer('running_var', torch.ones(groups))
        self.register_buffer('num_batches_tracked', torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        N, C, H, W = x.size()
        g = x.view(N, self.groups, -1)
        if self.training:
            mean = g.mean(dim=(0, 2))
            var = g.var(dim=(0, 2), unbiased=False)
            count = g.shape[0] * g.shape[2]
            with torch.no_grad():
                self.num_batches_tracked += 1
                mom = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - mom).add_(mom * mean)
                self.running_var.mul_(1 - mom).add_(mom * var * count / (count - 1))
        else:
            mean, var = self.running_mean, self.running_var
        y = (g - mean.view(1, -1, 1)) / torch.sqrt(var.view(1, -1, 1) + self.eps)
        return y.view(N, C, H, W) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def build(layer, args, opts):
    if layer == 'BatchNorm2d':
        return nn.BatchNorm2d(args[0], eps=opts.get('eps', 1e-5), momentum=opts.get('momentum', 0.1),
                              affine=opts.get('affine', True), track_running_stats=opts.get('trackRunningStats', True))
    if layer == 'BatchNorm1d':
        return nn.BatchNorm1d(args[0], eps=opts.get('eps', 1e-5), momentum=opts.get('momentum', 0.1),
                              affine=opts.get('affine', True), track_running_stats=opts.get('trackRunningStats', True))
    if layer == 'GroupNorm':
        return nn.GroupNorm(args[0], args[1], eps=opts.get('eps', 1e-5), affine=opts.get('affine', True))
    if layer == 'LayerNorm2d':
        return nn.GroupNorm(1, args[0], eps=opts.get('eps', 1e-5), affine=opts.get('affine', True))
    if layer == 'InstanceNorm2d':
        return nn.InstanceNorm2d(args[0], eps=opts.get('eps', 1e-5), momentum=opts.get('momentum', 0.1),
                                 affine=opts.get('affine', False), track_running_stats=opts.get('trackRunningStats', False))
    if layer == 'GNPlus':
        return GNPlusRef(args[0], args[1], eps=opts.get('eps', 1e-5), order=opts.get('order', 'gn-first'),
                         parameterization=opts.get('parameterization', 'sigmoid'))
    if layer == 'HybridNorm':
        b = opts.get('blend', 'layer')
        return HybridRef(args[0], args[1], eps=opts.get('eps', 1e-5), momentum=opts.get('momentum', 0.1),
                         blend=float(b) if isinstance(b, (int, float)) else b)
    if layer == 'BatchGroupNorm':
        return BGNRef(args[0], args[1], eps=opts.get('eps', 1e-5), momentum=opts.get('momentum', 0.1))
    raise ValueError(layer)


def grads_of(m, x, y, dy):
    m.zero_grad()
    if x.grad is not None:
        x.grad = None
    y.backward(dy)
    out = {'dx': enc(x.grad)}
    for name, p in m.named_parameters():
        out['d_' + name] = enc(p.grad)
    return out


def run_case(name, layer, args, opts, shape, steps=3, mean=0.0, std=1.0, eval_shape=None, seed=0):
    torch.manual_seed(seed)
    m = build(layer, args, opts)
    with torch.no_grad():
        for pname, p in m.named_parameters():
            if pname == 'weight':
                p.copy_(0.5 + torch.rand_like(p))
            elif pname == 'bias':
                p.copy_(torch.randn_like(p) * 0.5)
            elif pname == 'rho':
                p.copy_(torch.randn_like(p) * 0.5 + (0.3 if opts.get('parameterization') == 'raw' else 0.8))
    case = {
        'name': name, 'layer': layer, 'args': args, 'options': opts,
        'params': {k: enc(v) for k, v in m.named_parameters()},
        'stateKeys': list(m.state_dict().keys()),
        'train': [],
    }
    m.train()
    for i in range(steps):
        x = (torch.randn(shape) * std + mean).requires_grad_(True)
        y = m(x)
        step = {'x': enc(x), 'y': enc(y)}
        if i == steps - 1:
            dy = torch.randn(shape)
            step['dy'] = enc(dy)
            step.update(grads_of(m, x, y, dy))
        case['train'].append(step)
    case['buffers'] = {k: enc(v.to(torch.float64) if k == 'num_batches_tracked' else v)
                       for k, v in m.state_dict().items() if k in ('running_mean', 'running_var', 'num_batches_tracked')}
    m.eval()
    es = eval_shape or shape
    x = (torch.randn(es) * std + mean).requires_grad_(True)
    y = m(x)
    dy = torch.randn(es)
    ev = {'x': enc(x), 'y': enc(y), 'dy': enc(dy)}
    ev.update(grads_of(m, x, y, dy))
    case['eval'] = ev
    return case


def large_mean_case(name, layer, args, opts, shape, seed):
    """Inputs 1e4 + small spread: our output against float64, PyTorch's float32 result kept for comparison."""
    torch.manual_seed(seed)
    x32 = (torch.randn(shape, dtype=torch.float64) * 0.01 + 1e4).to(torch.float32)
    dy = torch.randn(shape, dtype=torch.float64).to(torch.float32)
    out = {'name': name, 'layer': layer, 'args': args, 'options': opts, 'x': enc(x32), 'dy': enc(dy)}
    for dtype, key in ((torch.float64, 'ref64'), (torch.float32, 'torch32')):
        m = build(layer, args, opts).to(dtype)
        m.train()
        x = x32.to(dtype).requires_grad_(True)
        y = m(x)
        y.backward(dy.to(dtype))
        out[key] = {'y': enc(y), 'dx': enc(x.grad)}
    return out


def main():
    cases = [
        run_case('bn2d-basic', 'BatchNorm2d', [6], {}, [4, 6, 3, 3], seed=1),
        run_case('bn2d-eps-mom', 'BatchNorm2d', [3], {'eps': 1e-3, 'momentum': 0.3}, [5, 3, 4, 2], mean=2, std=3, seed=2),
        run_case('bn2d-cumulative', 'BatchNorm2d', [4], {'momentum': None}, [3, 4, 2, 3], steps=4, seed=3),
        run_case('bn2d-no-running', 'BatchNorm2d', [4], {'trackRunningStats': False}, [3, 4, 3, 2], seed=4),
        run_case('bn2d-no-affine', 'BatchNorm2d', [4], {'affine': False}, [3, 4, 2, 2], seed=5),
        run_case('bn1d', 'BatchNorm1d', [5], {'momentum': 0.2}, [8, 5], seed=6),
        run_case('gn-g3', 'GroupNorm', [3, 6], {}, [2, 6, 4, 3], seed=7),
        run_case('gn-g2-eps', 'GroupNorm', [2, 8], {'eps': 1e-3}, [3, 8, 3, 3], mean=-1, std=0.5, seed=8),
        run_case('gn-no-affine', 'GroupNorm', [4, 8], {'affine': False}, [2, 8, 2, 2], seed=9),
        run_case('ln2d', 'LayerNorm2d', [4], {}, [3, 4, 3, 3], seed=10),
        run_case('in2d', 'InstanceNorm2d', [4], {}, [2, 4, 3, 4], seed=11),
        run_case('in2d-affine-running', 'InstanceNorm2d', [3], {'affine': True, 'trackRunningStats': True, 'momentum': 0.2}, [3, 3, 3, 3], seed=12),
        run_case('bgn', 'BatchGroupNorm', [2, 6], {'momentum': 0.2}, [3, 6, 3, 2], seed=13),
        run_case('bgn-eps', 'BatchGroupNorm', [3, 6], {'eps': 1e-3, 'momentum': None}, [2, 6, 2, 2], seed=14),
        run_case('hybrid-layer', 'HybridNorm', [2, 6], {}, [4, 6, 3, 3], seed=15, eval_shape=[1, 6, 3, 3]),
        run_case('hybrid-channel', 'HybridNorm', [3, 6], {'blend': 'channel', 'momentum': 0.3, 'eps': 1e-4}, [3, 6, 2, 3], seed=16),
        run_case('hybrid-fixed', 'HybridNorm', [2, 4], {'blend': 0.25}, [3, 4, 3, 3], seed=17),
    ]
    for order in ('gn-first', 'bn-first', 'parallel'):
        cases.append(run_case('gnplus-' + order, 'GNPlus', [2, 6], {'order': order}, [4, 6, 3, 3], seed=20))
        cases.append(run_case('gnplus-' + order + '-raw-eps', 'GNPlus', [3, 6], {'order': order, 'parameterization': 'raw', 'eps': 1e-3},
                              [3, 6, 2, 2], mean=1, std=2, seed=21))
    large = [
        large_mean_case('large-mean-gn', 'GroupNorm', [2, 8], {}, [2, 8, 8, 8], seed=30),
        large_mean_case('large-mean-bn', 'BatchNorm2d', [4], {}, [8, 4, 8, 8], seed=31),
        large_mean_case('large-mean-gnplus', 'GNPlus', [2, 8], {}, [4, 8, 4, 4], seed=32),
        large_mean_case('large-mean-hybrid', 'HybridNorm', [2, 8], {}, [4, 8, 4, 4], seed=33),
    ]
    doc = {'generator': 'tools/golden/generate.py', 'torch': torch.__version__, 'cases': cases, 'largeMean': large}
    with open(OUT, 'w') as f:
        json.dump(doc, f, separators=(',', ':'))
    print(f'wrote {OUT}: {len(cases)} cases, {len(large)} large-mean cases, {os.path.getsize(OUT)} bytes')


if __name__ == '__main__':
    main()
