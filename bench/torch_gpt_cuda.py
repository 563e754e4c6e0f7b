"""The GPT training step of ../shared/bench/torch_gpt.py (its model, data and optimizer), timed
on a CUDA GPU: PyTorch's side of `bench_gpt_step --device cuda`.

  python3 torch_gpt_cuda.py --shared-bench DIR --dtype fp32|bf16 [--steps N] [--warmup N]

DIR holds torch_gpt.py and torch_common.py (../shared/bench, or the copy scripts/gpu_prepare.sh
carries to a GPU machine). bf16 is torch.autocast('cuda', dtype=torch.bfloat16) around the
forward and the loss. PyTorch's defaults are kept, as for the CPU reference: f32 matmuls without
TF32 (as mantissa's), AdamW with its default implementation for CUDA tensors. Each step ends with
loss.item(), which waits for the GPU, as mantissa's bench does. Prints one 'RESULT {json}' line.
"""
import argparse
import json
import statistics
import sys
import time

import torch


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared-bench", required=True)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--device", default="cuda", help="cpu runs the same script without a GPU (a smoke test)")
    args = p.parse_args()
    sys.path.insert(0, args.shared_bench)
    from torch_gpt import GPT  # the workload's model, as the CPU reference builds it

    torch.manual_seed(0)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model = GPT(block_size=args.block).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, 256, (8, args.batch, args.block + 1), generator=g).to(device)
    state = {"i": 0, "loss": None}

    def step():
        d = data[state["i"] % data.shape[0]]
        state["i"] += 1
        x, y = d[:, :-1], d[:, 1:]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            _, loss = model(x, y)
        loss.backward()
        opt.step()
        state["loss"] = loss.item()

    for _ in range(args.warmup):
        step()
    sync()
    ms = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(ms)
    print("RESULT " + json.dumps({
        "bench": "torch_gpt_cuda",
        "dtype": args.dtype,
        "ms_median": round(med, 3),
        "ms_min": round(min(ms), 3),
        "ms_max": round(max(ms), 3),
        "tokens_per_s": round(args.batch * args.block / (med / 1e3), 1),
        "final_loss": round(state["loss"], 4),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None,
    }), flush=True)


if __name__ == "__main__":
    main()
