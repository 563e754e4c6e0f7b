"""Golden values of PyTorch's CTC loss for tests/nn/test_ctc_golden.cpp (run by hand:
/usr/bin/python3 make_ctc_golden.py; Debian's python3-torch 1.13).

One batch of five utterances, T = 30 frames, C = 8 classes (blank 0): logits drawn from a seeded
normal, log_probs = log_softmax(logits). Targets (padded to 12) cover a long one with repeats,
one with every label repeated (each repeat needs a blank between), the empty target, one that
cannot fit its input length (its loss is inf, counted as 0), and a short one; input lengths 30, 30, 17, 9, 25.
Written to ctc_golden.safetensors, in f64 (the computation runs in f64, and in f32 for the
f32 entries):
  logits [T, B, C], targets [B, 12] (I64), input_lengths [B], target_lengths [B] (I64)
  <dtype>.loss_none            per utterance, zero_infinity=True
  <dtype>.loss_mean, .loss_sum zero_infinity=True
  <dtype>.grad_logits_mean     d loss_mean / d logits (through log_softmax)
  <dtype>.grad_logits_sum
PyTorch's gradient with respect to log_probs adds exp(log_probs) to the true derivative (see
core/ctc_math.h); through log_softmax the two agree, so the gradients kept are the logits'.
"""

import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
from safetensors_writer import write  # noqa: E402
T, B, C, S = 30, 5, 8, 12


def main():
    g = torch.Generator().manual_seed(2026)
    logits = torch.randn(T, B, C, generator=g, dtype=torch.float64) * 2
    rows = [
        [1, 2, 3, 3, 4, 5, 6, 7, 1, 1, 2, 3],  # long, with repeats
        [4, 4, 4, 4, 4, 4],                    # every label repeated
        [],                                    # empty
        [2, 2, 3, 3, 5, 5, 6, 6, 1, 1],        # 5 repeated pairs need 15 frames; it gets 9
        [7, 5, 3],                             # short
    ]
    targets = torch.zeros(B, S, dtype=torch.int64)
    for b, r in enumerate(rows):
        targets[b, : len(r)] = torch.tensor(r, dtype=torch.int64)
    target_lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
    input_lengths = torch.tensor([30, 30, 17, 9, 25], dtype=torch.int64)
    out = {"logits": logits, "targets": targets, "input_lengths": input_lengths, "target_lengths": target_lengths}
    for name, dtype in (("f64", torch.float64), ("f32", torch.float32)):
        def loss(reduction):
            x = logits.to(dtype).clone().requires_grad_()
            value = F.ctc_loss(F.log_softmax(x, dim=2), targets, input_lengths, target_lengths, blank=0,
                               reduction=reduction, zero_infinity=True)
            return x, value
        x, none = loss("none")
        out[f"{name}.loss_none"] = none.detach().double()
        for reduction in ("mean", "sum"):
            x, value = loss(reduction)
            value.backward()
            out[f"{name}.loss_{reduction}"] = value.detach().double().reshape(1)
            out[f"{name}.grad_logits_{reduction}"] = x.grad.double()
    write(os.path.join(HERE, "ctc_golden.safetensors"), out, made_by="tests/nn/golden/make_ctc_golden.py", torch=torch.__version__)
    print("losses:", out["f64.loss_none"].tolist())


if __name__ == "__main__":
    main()
