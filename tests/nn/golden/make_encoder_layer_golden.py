"""Golden values of PyTorch's pre-norm nn.TransformerEncoderLayer with a key padding mask, for
tests/nn/test_encoder_layer_golden.cpp (run by hand: /usr/bin/python3 make_encoder_layer_golden.py;
Debian's python3-torch 1.13).

nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, dropout=0, batch_first=True,
norm_first=True) in f64, in training mode (PyTorch's fast path, which runs only in eval without
gradients, is not involved). Input x (B=3, T=7, 16) from a seeded normal; lengths 7, 5, 2, so
key_padding_mask is true from each length on. The loss is sum(out * w) over the real positions
only (w a fixed seeded normal), since padded positions are the caller's to ignore.
Written to encoder_layer_golden.safetensors (all F64 but lengths, I64):
  x, w, lengths, out (B, T, 16)
  param.<mantissa name>      the layer's parameters under mantissa's names (PyTorch's
                             self_attn.in_proj_weight is mantissa's self_attn.in_proj.weight)
  grad.x, grad.<mantissa name>  d loss / d each
"""

import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
from safetensors_writer import write  # noqa: E402
B, T, D, H, F = 3, 7, 16, 4, 32
RENAME = {"self_attn.in_proj_weight": "self_attn.in_proj.weight", "self_attn.in_proj_bias": "self_attn.in_proj.bias"}


def main():
    torch.manual_seed(2026)
    layer = nn.TransformerEncoderLayer(D, H, dim_feedforward=F, dropout=0.0, batch_first=True, norm_first=True).double()
    with torch.no_grad():  # LayerNorm starts at 1 and 0: move them so their gradients are tested
        for norm in (layer.norm1, layer.norm2):
            norm.weight.add_(0.3 * torch.randn(D, dtype=torch.float64))
            norm.bias.add_(0.3 * torch.randn(D, dtype=torch.float64))
    layer.train()
    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    w = torch.randn(B, T, D, dtype=torch.float64)
    lengths = torch.tensor([7, 5, 2], dtype=torch.int64)
    mask = torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)  # True: padding
    out = layer(x, src_key_padding_mask=mask)
    real = (~mask).unsqueeze(-1).double()
    (out * w * real).sum().backward()
    tensors = {"x": x.detach(), "w": w, "lengths": lengths, "out": out.detach(), "grad.x": x.grad}
    for name, p in layer.named_parameters():
        tensors["param." + RENAME.get(name, name)] = p.detach()
        tensors["grad." + RENAME.get(name, name)] = p.grad
    write(os.path.join(HERE, "encoder_layer_golden.safetensors"), tensors, made_by="tests/nn/golden/make_encoder_layer_golden.py", torch=torch.__version__)
    print(sorted(tensors))


if __name__ == "__main__":
    main()
