#!/usr/bin/env python3
"""PyTorch (CPU) peer for the normlab benchmarks.

Reads one JSON object on stdin:
  {"cases": [{"name": str, "op": str, "params": {...}}, ...],
   "threads": int, "warmup": int, "warmupMs": float, "reps": int, "maxTimeMs": float, "minReps": int}
and prints one JSON object on stdout:
  {"torch_version": str, "threads": int, "samples_ms": {case name: [ms, ...]}}

Timing follows the TypeScript harness (benchmarks/src/harness.ts): untimed calls until both
`warmup` calls and `warmupMs` ms were spent (a warm-up call over `maxTimeMs` counts as a sample), then up
to `reps` timed calls, stopping after `maxTimeMs` once `minReps` were taken. Inputs are built
once, outside the timed calls, in float32 and NCHW. To add an op, add a builder to OPS that returns
a zero-argument callable doing one complete call.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def _randn(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def build_matmul(p):
    a = _randn([p["m"], p["k"]], 1)
    b = _randn([p["k"], p["n"]], 2)
    return lambda: torch.matmul(a, b)


def _conv_args(p):
    return dict(stride=p.get("stride", 1), padding=p.get("padding", 0),
                dilation=p.get("dilation", 1), groups=p.get("groups", 1))


def build_conv2d(p):
    x = _randn(p["x"], 1)
    w = _randn(p["w"], 2)
    kw = _conv_args(p)
    return lambda: F.conv2d(x, w, None, **kw)


def _conv_backward(p, mask):
    x = _randn(p["x"], 1)
    w = _randn(p["w"], 2)
    kw = _conv_args(p)
    dy = _randn(list(F.conv2d(x, w, None, **kw).shape), 3)
    s, pd, d = (kw["stride"],) * 2, (kw["padding"],) * 2, (kw["dilation"],) * 2
    # aten::convolution_backward computes only the gradients asked for in output_mask
    # (input, weight, bias), like normlab's two separate backward kernels.
    return lambda: torch.ops.aten.convolution_backward(
        dy, x, w, None, s, pd, d, False, (0, 0), kw["groups"], mask)


def build_conv2d_backward_input(p):
    return _conv_backward(p, [True, False, False])


def build_conv2d_backward_weight(p):
    return _conv_backward(p, [False, True, False])



def _norm_fwd_bwd(p, forward, params):
    """Forward + backward (input and parameter gradients) of a norm layer, as normlab's case."""
    x = _randn([p["n"], p["c"], p["h"], p["w"]], 1).requires_grad_(True)
    dy = _randn([p["n"], p["c"], p["h"], p["w"]], 2)

    def run():
        # time_fn runs under no_grad; these cases need the graph.
        with torch.enable_grad():
            y = forward(x)
            torch.autograd.grad(y, [x] + params, dy)
    return run


def build_norm_gn(p):
    m = torch.nn.GroupNorm(p["g"], p["c"])
    return _norm_fwd_bwd(p, m, list(m.parameters()))


def build_norm_bn(p):
    m = torch.nn.BatchNorm2d(p["c"]).train()
    return _norm_fwd_bwd(p, m, list(m.parameters()))


def _gnplus_parts(p):
    c, g = p["c"], p["g"]
    weight = torch.ones(c, requires_grad=True)
    bias = torch.zeros(c, requires_grad=True)
    rho = torch.ones(1, requires_grad=True)
    return c, g, weight, bias, rho


def build_norm_gnplus(p):
    """GN+ (gn-first) as the authors' code composes it: PyTorch has no native layer."""
    c, g, weight, bias, rho = _gnplus_parts(p)
    eps = 1e-5

    def forward(x):
        n, _, h, w = x.shape
        xg = x.view(n, g, -1)
        u = ((xg - xg.mean(2, keepdim=True)) / (xg.std(2, keepdim=True) + eps)).view(n, c, h, w)
        v = (u - u.mean(0, keepdim=True)) / (u.std(0, keepdim=True) + eps)
        s = torch.sigmoid(rho)
        return (s * u + (1 - s) * v) * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)
    return _norm_fwd_bwd(p, forward, [weight, bias, rho])


def build_norm_hybrid(p):
    """HybridNorm: native group_norm, then native batch_norm (training), blended."""
    c, g, weight, bias, rho = _gnplus_parts(p)
    rm, rv = torch.zeros(c), torch.ones(c)

    def forward(x):
        u = F.group_norm(x, g, None, None, 1e-5)
        v = F.batch_norm(u, rm, rv, None, None, True, 0.1, 1e-5)
        s = torch.sigmoid(rho)
        return (s * u + (1 - s) * v) * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)
    return _norm_fwd_bwd(p, forward, [weight, bias, rho])


def _train_step_cnn_model(p):
    """The normlab `cnn` with BN as torch.nn layers, from the spec the TypeScript suite reads off it."""
    layers = []
    for i, (cin, cout, k, stride, pad) in enumerate(p["convs"]):
        layers += [torch.nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False),
                   torch.nn.BatchNorm2d(cout, eps=p["bn_eps"], momentum=p["bn_momentum"]),
                   torch.nn.ReLU()]
        if i == 0 and p["pool_after_first"]:
            layers.append(torch.nn.MaxPool2d(2, 2))
    layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(p["linear_in"], p["classes"])]
    torch.manual_seed(1)
    return torch.nn.Sequential(*layers).train()


def describe_train_step_cnn(p):
    """Parameter counts of the train_step_cnn model (the suite checks them against normlab's)."""
    m = _train_step_cnn_model(p)
    return {"trainable": sum(t.numel() for t in m.parameters() if t.requires_grad),
            "buffers": sum(b.numel() for b in m.buffers())}


def build_train_step_cnn(p):
    """One SGD step: forward, cross-entropy, backward, update; the loss read back as every peer does."""
    m = _train_step_cnn_model(p)
    opt = torch.optim.SGD(m.parameters(), lr=p["lr"], momentum=p["momentum"])
    g = torch.Generator().manual_seed(p["seed"])
    x = torch.randn(p["batch"], p["in_channels"], p["size"], p["size"], generator=g)
    y = torch.randint(0, p["classes"], (p["batch"],), generator=g)

    def run():
        # time_fn runs under no_grad; a training step needs the graph.
        with torch.enable_grad():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss.item()
    return run


OPS = {
    "matmul": build_matmul,
    "conv2d": build_conv2d,
    "conv2d_backward_input": build_conv2d_backward_input,
    "conv2d_backward_weight": build_conv2d_backward_weight,
    "norm_gn": build_norm_gn,
    "norm_bn": build_norm_bn,
    "norm_gnplus": build_norm_gnplus,
    "norm_hybrid": build_norm_hybrid,
    "train_step_cnn": build_train_step_cnn,
}


def time_fn(fn, warmup, warmup_ms, reps, max_ms, min_reps):
    with torch.no_grad():
        samples = []
        warm_start = time.perf_counter()
        i = 0
        while i < warmup or (time.perf_counter() - warm_start) * 1e3 < warmup_ms:
            t0 = time.perf_counter()
            fn()
            dt = (time.perf_counter() - t0) * 1e3
            i += 1
            if dt > max_ms:
                samples.append(dt)
                break
        start = time.perf_counter()
        while len(samples) < reps and (len(samples) < min_reps or (time.perf_counter() - start) * 1e3 < max_ms):
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def main():
    spec = json.load(sys.stdin)
    torch.set_num_threads(int(spec["threads"]))
    out = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "samples_ms": {}}
    for case in spec["cases"]:
        if case["op"] not in OPS:
            raise SystemExit(f"torch_bench.py: unknown op {case['op']!r}; known: {', '.join(sorted(OPS))}")
        fn = OPS[case["op"]](case["params"])
        out["samples_ms"][case["name"]] = time_fn(
            fn, int(spec["warmup"]), float(spec.get("warmupMs", 0)), int(spec["reps"]), float(spec["maxTimeMs"]), int(spec["minReps"]))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
