#!/usr/bin/python3
"""Golden values for the LLM example's GPT, from PyTorch (Debian's python3-torch, 1.13).

A small GPT with nanoGPT's structure and parameter names (2 layers, 2 heads, 16 wide, block 8,
vocabulary 11, biases on, dropout 0, tied head), written independently of mantissa. Its fixed
weights go to gpt_weights.safetensors; gpt_golden.safetensors holds, for one batch:
  logits, loss, grad.<parameter> after one backward, adamw_losses (the loss before each of
  three AdamW steps, nanoGPT's settings) -- in f32;
  bf16.logits, bf16.loss, bf16.grad.<parameter> -- the same forward and backward under
  torch.autocast("cpu", bfloat16), PyTorch's CPU policy.
Run by hand; tests/examples/llm/test_gpt_golden.cpp reads the files and never needs torch:
  /usr/bin/python3 tests/examples/llm/golden/make_gpt_golden.py
"""
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

V, T, L, H, C = 11, 8, 2, 2, 16
HERE = os.path.dirname(os.path.abspath(__file__))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)

    def forward(self, x):
        B, N, _ = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, N, H, C // H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
        att = att.masked_fill(~torch.ones(N, N, dtype=torch.bool).tril(), float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, N, C))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C)
        self.c_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn, self.ln_2, self.mlp = nn.LayerNorm(C), Attention(), nn.LayerNorm(C), Mlp()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.lm_head = nn.Linear(C, V, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def write_safetensors(path, tensors):
    """The safetensors format: an 8-byte little-endian header length, a JSON header, raw data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"made_by": "tests/examples/llm/golden/make_gpt_golden.py", "torch": torch.__version__}
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for b in blobs:
            f.write(b)


def main():
    torch.manual_seed(20261203)
    model = Gpt()
    with torch.no_grad():  # every parameter random, so every gradient path is exercised
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_((0.3 if p.dim() == 2 else 0.05) * torch.randn_like(p))
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    weights["lm_head.weight"] = weights["wte.weight"]
    idx = torch.randint(0, V, (2, T))
    targets = torch.randint(0, V, (2, T))
    golden = {"idx": idx.to(torch.float32), "targets": targets.to(torch.float32)}

    def forward_backward(prefix, bf16):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(idx)
            loss = F.cross_entropy(logits.view(-1, V), targets.view(-1))
        loss.backward()  # outside the region, as PyTorch advises
        golden[prefix + "logits"], golden[prefix + "loss"] = logits.detach(), loss.detach().reshape(1)
        for name, p in model.named_parameters():
            golden[prefix + "grad." + name] = p.grad.detach().clone()
        model.zero_grad()

    forward_backward("", False)
    forward_backward("bf16.", True)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.99), eps=1e-8)
    losses = []
    for _ in range(3):
        loss = F.cross_entropy(model(idx).view(-1, V), targets.view(-1))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    golden["adamw_losses"] = torch.tensor(losses)
    write_safetensors(os.path.join(HERE, "gpt_weights.safetensors"), weights)
    write_safetensors(os.path.join(HERE, "gpt_golden.safetensors"), golden)
    print("loss", golden["loss"].item(), "bf16 loss", golden["bf16.loss"].item(), "adamw", losses)


if __name__ == "__main__":
    main()
