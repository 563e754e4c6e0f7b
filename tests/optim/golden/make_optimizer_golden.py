"""Golden trajectories for tests/optim/test_optimizers_vs_pytorch.cpp, from torch.optim.

Two f64 parameters receive fixed gradients (stored in the output, so the C++ test needs
no transcendental functions) for a few steps under several optimizer configurations;
the parameters after every step are recorded. Run with Debian's PyTorch:

  /usr/bin/python3 tests/optim/golden/make_optimizer_golden.py > tests/optim/golden/optimizers.json
"""
import json
import math

import torch

STEPS = 5
INITIAL = [[0.5, -1.0, 2.0, -0.25, 0.0], [[0.1, 0.2, -0.3], [1.5, -2.5, 0.75]]]


def gradients():
    out = []
    for t in range(STEPS):
        out.append([[math.sin(0.7 * i + 1.3 * t) for i in range(5)],
                    [[math.cos(0.4 * (3 * r + c) - 0.9 * t) * 2.0 for c in range(3)] for r in range(2)]])
    return out


CONFIGS = {
    "sgd": (torch.optim.SGD, dict(lr=0.1), None),
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01), None),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), None),
    "adam": (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1), None),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1), None),
    # Parameter groups: the first parameter has its own lr and no decay.
    "adamw_groups": (torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1), dict(lr=0.02, weight_decay=0.0)),
}


def run(make, kwargs, first_group, grads):
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in INITIAL]
    if first_group is None:
        opt = make(params, foreach=False, **kwargs)
    else:
        opt = make([dict(params=[params[0]], **first_group), dict(params=[params[1]])], foreach=False, **kwargs)
    trajectory = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        trajectory.append([p.detach().tolist() for p in params])
    return trajectory


def main():
    grads = gradients()
    result = {"torch_version": torch.__version__, "initial": INITIAL, "gradients": grads, "configs": {}}
    for name, (make, kwargs, first_group) in CONFIGS.items():
        result["configs"][name] = {"trajectory": run(make, kwargs, first_group, grads)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
