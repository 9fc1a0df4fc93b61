#!/usr/bin/python3
"""A PyTorch BatchNorm2d state dict as a safetensors file, for @normlab/models' dtype checks.

Run:  /usr/bin/python3 tools/golden/state_dict.py   (writes tools/golden/torch-batchnorm2d.safetensors)

Debian's python3-torch (1.13) has no `safetensors` package, so the file is written here the way
`safetensors.torch.save_file` writes one: 8-byte little-endian header length, a JSON header
{name: {dtype, shape, data_offsets}} padded with spaces to 8 bytes, then each tensor's
little-endian bytes. The dtype codes are safetensors' for the torch dtypes: float32 -> F32,
int64 -> I64 (`num_batches_tracked`). The module is PyTorch's own nn.BatchNorm2d(3) after two
training batches, so num_batches_tracked is 2 and the running statistics are real ones.
"""
import json
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'torch-batchnorm2d.safetensors')
CODES = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64'}


def safetensors_bytes(state):
    header, blobs, offset = {}, [], 0
    for name in sorted(state):
        t = state[name].detach().contiguous()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': CODES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':'))
    text += ' ' * ((8 - (8 + len(text)) % 8) % 8)
    return struct.pack('<Q', len(text)) + text.encode() + b''.join(blobs)


def main():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(3)
    bn.train()
    for _ in range(2):
        bn(torch.randn(4, 3, 5, 5) * 2 + 1)
    assert bn.num_batches_tracked.dtype == torch.int64
    with open(OUT, 'wb') as f:
        f.write(safetensors_bytes(bn.state_dict()))
    print(f'wrote {OUT} (torch {torch.__version__})')


if __name__ == '__main__':
    main()
