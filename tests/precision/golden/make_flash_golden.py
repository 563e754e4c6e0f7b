"""Golden trajectories of the flash optimizers, from a restatement of their update written apart
from mantissa's C++ (run by hand: /usr/bin/python3 make_flash_golden.py; needs only numpy).

The scheme is FlashOptim's (Gonzalez Ortiz et al., arXiv 2602.23349; github.com/databricks/
flashoptim): f16/bf16 weights with their rounding error kept as a signed fraction of half the
weight's ulp in int8/int16 codes, optimizer states in 8-bit codes with one f16 scale per 32
elements (momentum companded by softsign, the second moment stored as sqrt(v)). It is
restated here with the three choices docs/precision.md documents where mantissa departs from
FlashOptim's kernels:
  - elements are divided by the stored (f16-rounded, saturated) group scale, not the f32 absmax;
  - a nonzero sqrt(v) never gets code 0; a nonzero absmax never gets a zero scale;
  - the rules follow PyTorch's single-tensor order (torch.optim.Adam/AdamW/SGD; lion-pytorch),
    constants computed in f64 and rounded to f32 once, as FlashOptim's kernels take floats.
Every operation is an explicit numpy float32 operation, so each rounds to f32 once.

The problem has uneven groups: within a group of 32, gradient magnitudes span 2^-10 to 2^2
and change every step, with exact zeros, one group of f16-subnormal gradients, an outlier,
and a partial last group (200 elements). Written to flash_golden.safetensors:
  <dtype>.init [n], <dtype>.grads [steps, n]   inputs, exact in the dtype (f32)
  <case>.weights [steps, n]                      reconstructed f32 weights after every step
  <case>.param, .residual, .<state>_q, .<state>_scale   every buffer after the last step
with <case> = <rule>.<dtype>.<residual bits>.
"""

import json
import os
import struct

import numpy as np

f32 = np.float32
GROUP = 32
N, STEPS = 200, 25
LEVELS = {"int8": 127, "int16": 32767, "none": 0}
HYPER = dict(lr=3e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, momentum=0.9, dampening=0.0)
LION = dict(lr=3e-4, beta1=0.9, beta2=0.99, weight_decay=0.1)


# ---- narrow formats, from their bit layouts

class Format:
    def __init__(self, name, mantissa_bits, bias):
        self.name, self.mantissa_bits, self.bias = name, mantissa_bits, bias

    def round(self, x):
        """f32 -> the format's bits, round to nearest even."""
        x = np.asarray(x, dtype=f32)
        if self.name == "f16":
            return x.astype(np.float16).view(np.uint16)
        bits = x.view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        nan = np.isnan(x)
        return np.where(nan, 0x7FC0, rounded).astype(np.uint16)

    def widen(self, bits):
        bits = np.asarray(bits, dtype=np.uint16)
        if self.name == "f16":
            return bits.view(np.float16).astype(f32)
        return (bits.astype(np.uint32) << 16).view(f32)

    def finite(self, bits):
        return (bits & 0x7FFF) < ((1 << (15 - self.mantissa_bits)) - 1) << self.mantissa_bits

    def half_ulp(self, bits):
        """Half the spacing at each value: 2^(e - mantissa bits - 1), zero and subnormals at the
        smallest normal exponent."""
        biased = ((bits & 0x7FFF) >> self.mantissa_bits).astype(np.int64)
        e = np.maximum(biased, 1) - self.bias - self.mantissa_bits - 1
        return np.ldexp(f32(1), e).astype(f32)


FORMATS = {"bf16": Format("bf16", 7, 127), "f16": Format("f16", 10, 15)}


def round_half_away(x):
    return np.trunc(x + np.copysign(f32(0.5), x)).astype(f32)


def encode_residual(fmt, w, bits, levels):
    fraction = (w - fmt.widen(bits)) / fmt.half_ulp(bits)
    code = round_half_away(np.clip(fraction, f32(-1), f32(1)) * f32(levels)).astype(np.int64)
    return np.where(fmt.finite(bits), code, 0)


def decode_residual(fmt, bits, code, levels):
    base = fmt.widen(bits)
    if levels == 0:
        return base
    return np.where(fmt.finite(bits), base + (code.astype(f32) / f32(levels)) * fmt.half_ulp(bits), base).astype(f32)


def residual_bytes(code, residual):
    if residual == "int8":
        return code.astype(np.int8).view(np.uint8)
    return code.astype(np.int16).astype("<i2").view(np.uint8)  # low byte first


# ---- group-scaled 8-bit states

def group_scale(absmax):
    """absmax as f16 (saturating), never zero when absmax is not."""
    scale = np.minimum(absmax, f32(65504)).astype(np.float16)
    scale = np.where((absmax > 0) & (scale == 0), np.float16(2.0**-24), scale)
    return np.where(absmax > 0, scale, np.float16(0))


def groups(x):
    return [x[i:i + GROUP] for i in range(0, len(x), GROUP)]


def quantize_groups(x, codes_of):
    """Codes and per-group f16 scales: codes_of(group, f32 scale) for groups with a nonzero scale."""
    codes, scales = [], []
    for g in groups(x):
        scale = group_scale(np.max(np.abs(g)))
        codes.append(codes_of(g, f32(scale)) if scale > 0 else np.zeros(len(g), np.uint8))
        scales.append(scale)
    return np.concatenate(codes), np.array(scales, np.float16)


def quantize_momentum(m):
    def codes_of(g, s):
        x = np.clip(g / s, f32(-1), f32(1))
        y = (f32(2) * x) / (f32(1) + np.abs(x))
        return np.floor(f32(127) * y + f32(0.5)).astype(np.int8).view(np.uint8)
    return quantize_groups(m, codes_of)


def dequantize_momentum(codes, scales):
    out = []
    for i, g in enumerate(groups(codes)):
        y = g.view(np.int8).astype(f32) / f32(127)
        out.append((y / (f32(2) - np.abs(y))) * f32(scales[i]))
    return np.concatenate(out).astype(f32)


def quantize_variance(v):
    def codes_of(root, s):
        code = np.floor(f32(255) * np.clip(root / s, f32(0), f32(1)) + f32(0.5))
        return np.where(root > 0, np.maximum(code, f32(1)), f32(0)).astype(np.uint8)
    return quantize_groups(np.sqrt(v), codes_of)


def dequantize_variance(codes, scales):
    out = []
    for i, g in enumerate(groups(codes)):
        root = (g.astype(f32) / f32(255)) * f32(scales[i])
        out.append(root * root)
    return np.concatenate(out).astype(f32)


# ---- the rules, PyTorch's single-tensor order, in f32

def adam(w, g, m, v, t, decoupled):
    h = HYPER
    lr, b1, b2, eps, wd = f32(h["lr"]), f32(h["beta1"]), f32(h["beta2"]), f32(h["eps"]), f32(h["weight_decay"])
    step_size = f32(h["lr"] / (1 - h["beta1"] ** t))
    bc2_sqrt = f32(np.sqrt(1 - h["beta2"] ** t))
    if decoupled:
        w = w * (f32(1) - lr * wd)
    else:
        g = g + wd * w
    m = m + (f32(1) - b1) * (g - m)
    v = v * b2 + ((f32(1) - b2) * g) * g
    denom = np.sqrt(v) / bc2_sqrt + eps
    return w - step_size * (m / denom), m, v


def sgd(w, g, m, first, nesterov):
    h = HYPER
    lr, mom, damp, wd = f32(h["lr"]), f32(h["momentum"]), f32(h["dampening"]), f32(h["weight_decay"])
    d = g + wd * w
    m = d if first else mom * m + (f32(1) - damp) * d
    d = d + mom * m if nesterov else m
    return w - lr * d, m


def lion(w, g, m):
    h = LION
    lr, b1, b2, wd = f32(h["lr"]), f32(h["beta1"]), f32(h["beta2"]), f32(h["weight_decay"])
    w = w * (f32(1) - lr * wd)
    direction = m * b1 + g * (f32(1) - b1)
    w = w - lr * np.sign(direction).astype(f32)
    return w, m * b2 + g * (f32(1) - b2)


# ---- one case: a rule, a dtype and a residual width, compressed states

def run_case(rule, fmt, residual, init, grads):
    levels = LEVELS[residual]
    param = fmt.round(init)
    code = np.zeros(N, np.int64)
    m_codes, m_scales = np.zeros(N, np.uint8), np.zeros((N + GROUP - 1) // GROUP, np.float16)
    v_codes, v_scales = m_codes.copy(), m_scales.copy()
    trajectory = []
    for t in range(1, STEPS + 1):
        w = decode_residual(fmt, param, code, levels)
        g = fmt.widen(fmt.round(grads[t - 1]))
        m = dequantize_momentum(m_codes, m_scales)
        if rule in ("adamw", "adam"):
            v = dequantize_variance(v_codes, v_scales)
            w, m, v = adam(w, g, m, v, t, decoupled=rule == "adamw")
            v_codes, v_scales = quantize_variance(v)
        elif rule in ("sgd", "sgd_nesterov"):
            w, m = sgd(w, g, m, first=t == 1, nesterov=rule == "sgd_nesterov")
        else:
            w, m = lion(w, g, m)
        m_codes, m_scales = quantize_momentum(m)
        param = fmt.round(w)
        if levels:
            code = encode_residual(fmt, w, param, levels)
        trajectory.append(decode_residual(fmt, param, code, levels))
    momentum = "momentum_buffer" if rule.startswith("sgd") else "exp_avg"
    out = {"weights": np.stack(trajectory), "param": param,
           momentum + "_q": m_codes, momentum + "_scale": m_scales}
    if levels:
        out["residual"] = residual_bytes(code, residual)
    if rule in ("adamw", "adam"):
        out["exp_avg_sq_q"], out["exp_avg_sq_scale"] = v_codes, v_scales
    return out


# ---- inputs

def make_inputs(fmt, rng):
    def exact(x):
        return fmt.widen(fmt.round(np.asarray(x, f32)))

    init = exact(rng.choice([-1.0, 1.0], N) * 2.0 ** rng.uniform(-6, 1, N))
    grads = []
    preferred = rng.choice([-1.0, 1.0], N)
    for _ in range(STEPS):
        sign = np.where(rng.uniform(size=N) < 0.7, preferred, -preferred)
        g = sign * 2.0 ** rng.uniform(-10, 2, N)
        g[rng.uniform(size=N) < 0.05] = 0.0                      # exact zeros
        g[96:128] = sign[96:128] * 2.0 ** rng.uniform(-26, -17, 32)  # group 3: f16 subnormals
        g[160] = 64.0 * sign[160]                                # an outlier in group 5
        grads.append(exact(g))
    return init, np.stack(grads)


def write_safetensors(path, tensors):
    kinds = {np.dtype(f32): "F32", np.dtype(np.float16): "F16", np.dtype(np.uint8): "U8"}
    header, blobs, offset = {}, [], 0
    for name, (array, dtype) in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype or kinds[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"made_by": "tests/precision/golden/make_flash_golden.py", "numpy": np.__version__}
    encoded = json.dumps(header, sort_keys=True).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        f.writelines(blobs)


def main():
    rng = np.random.default_rng(20261203)
    tensors = {}
    for dtype, fmt in FORMATS.items():
        init, grads = make_inputs(fmt, rng)
        tensors[f"{dtype}.init"] = (init, None)
        tensors[f"{dtype}.grads"] = (grads.astype(f32), None)
        for rule in ("adamw", "adam", "sgd", "sgd_nesterov", "lion"):
            for residual in ("int8", "int16", "none"):
                case = run_case(rule, fmt, residual, init, grads)
                for key, value in case.items():
                    tensors[f"{rule}.{dtype}.{residual}.{key}"] = (value, dtype.upper() if key == "param" else None)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flash_golden.safetensors")
    write_safetensors(path, tensors)
    print(f"wrote {len(tensors)} tensors to {path}")


if __name__ == "__main__":
    main()
