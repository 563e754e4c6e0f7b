"""Golden values of the ASR model (examples/asr/model.h) restated in PyTorch, for
tests/examples/asr/test_model_golden.cpp (run by hand: /usr/bin/python3 make_asr_model_golden.py;
Debian's python3-torch 1.13).

The restatement, from log-mel features on: Conv1d(n_mels -> d, k 3, stride 2) + ReLU, Conv1d(d -> d,
k 3, stride 2) + ReLU, plus torch_asr.py's sinusoid table (computed in f64, stored in f32), pre-norm nn.TransformerEncoderLayers
(ReLU, dropout 0) with src_key_padding_mask true from each utterance's encoder length on, Linear to
29 symbols, log_softmax in f32/f64, and F.ctc_loss (blank 0, mean, zero_infinity=True) with the
encoder lengths as input lengths. Encoder length of L frames: floor((floor((L - 3) / 2) + 1 - 3) / 2) + 1.

A small configuration in f64: n_mels 12, d_model 16, 2 heads, 2 layers, d_ff 32, 29 symbols,
a position table of 64. Features (B=3, T=31, 12) from a seeded normal, frame lengths 31, 22, 9
(encoder lengths 7, 4, 1); targets (padded to 4): [5 6 5 7], [9 9], [3] (the last has one
frame for one label). Written to asr_model_golden.safetensors (F64, lengths and targets I64):
  features, frame_lengths, targets, target_lengths
  param.<mantissa name>   PyTorch's encoder.layers.N.* are mantissa's layers.N.*, and
                          self_attn.in_proj_weight is self_attn.in_proj.weight
  log_probs (T'=7, B, 29), encoder_lengths, loss (1)
  grad.<mantissa name>    d loss / d each parameter
"""

import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "support"))
from safetensors_writer import write  # noqa: E402

MELS, D, HEADS, LAYERS, FF, SYMBOLS, MAX_LEN = 12, 16, 2, 2, 32, 29, 64


class Restatement(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(MELS, D, kernel_size=3, stride=2)
        self.conv2 = nn.Conv1d(D, D, kernel_size=3, stride=2)
        # torch_asr.py's table, computed in f64 and stored in f32 as mantissa keeps it.
        pe = torch.zeros(MAX_LEN, D, dtype=torch.float64)
        pos = torch.arange(MAX_LEN, dtype=torch.float64).unsqueeze(1)
        div = torch.exp(torch.arange(0, D, 2, dtype=torch.float64) * (-math.log(10000.0) / D))
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe.float())
        layer = nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=FF, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.out = nn.Linear(D, SYMBOLS)

    def forward(self, feats, frame_lengths):
        x = F.relu(self.conv1(feats.transpose(1, 2)))
        x = F.relu(self.conv2(x)).transpose(1, 2)
        x = x + self.pe[: x.shape[1]].to(x.dtype)
        lengths = ((frame_lengths - 3) // 2 + 1 - 3) // 2 + 1
        mask = torch.arange(x.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)
        x = self.encoder(x, src_key_padding_mask=mask)
        return self.out(x).log_softmax(-1).transpose(0, 1), lengths


def mantissa_name(name):
    name = name.replace("encoder.layers.", "layers.")
    return name.replace("self_attn.in_proj_weight", "self_attn.in_proj.weight").replace(
        "self_attn.in_proj_bias", "self_attn.in_proj.bias")


def main():
    torch.manual_seed(2026)
    model = Restatement().double()
    model.train()
    features = torch.randn(3, 31, MELS, dtype=torch.float64)
    frame_lengths = torch.tensor([31, 22, 9], dtype=torch.int64)
    targets = torch.tensor([[5, 6, 5, 7], [9, 9, 0, 0], [3, 0, 0, 0]], dtype=torch.int64)
    target_lengths = torch.tensor([4, 2, 1], dtype=torch.int64)
    log_probs, lengths = model(features, frame_lengths)
    loss = F.ctc_loss(log_probs, targets, lengths, target_lengths, blank=0, reduction="mean", zero_infinity=True)
    loss.backward()
    tensors = {"features": features, "frame_lengths": frame_lengths, "targets": targets,
               "target_lengths": target_lengths, "log_probs": log_probs.detach(), "encoder_lengths": lengths,
               "loss": loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        tensors["param." + mantissa_name(name)] = p.detach()
        tensors["grad." + mantissa_name(name)] = p.grad
    write(os.path.join(HERE, "asr_model_golden.safetensors"), tensors,
          made_by="tests/examples/asr/golden/make_asr_model_golden.py", torch=torch.__version__)
    print("loss", loss.item(), "encoder lengths", lengths.tolist())


if __name__ == "__main__":
    main()
