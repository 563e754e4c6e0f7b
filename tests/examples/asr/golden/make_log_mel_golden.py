"""Golden log-mel features for tests/examples/asr/test_log_mel.cpp, computed in f64 by numpy with
librosa's mel filterbank (run by hand: python3 make_log_mel_golden.py, in an environment with
librosa; it was made with librosa 0.11 and numpy 1.24).

The frontend's definition (examples/asr/log_mel.h), restated independently: pre-emphasis 0.97,
frames centred with n_fft/2 = 256 zeros on each side, one every 160 samples, a symmetric Hann
window of 400 samples (numpy.hanning) centred in the 512-sample frame, |rfft|^2, librosa's
Slaney-scale, Slaney-normalised filterbank (80 mels, 0-4000 Hz at 16 kHz), log(x + 2^-24), and
each mel bin normalised over the frames with its sample standard deviation plus 1e-5.

Two signals at 16 kHz, stored as f32 (what the frontend reads) and used as f64 here:
  chirp: 0.73 s, a linear chirp 100 -> 3800 Hz plus two harmonics and white noise at -50 dB
  short: 0.21 s, tones at 440 and 1800 Hz and white noise (22 frames)
Written to log_mel_golden.safetensors: <signal>.samples (F32), <signal>.log_mel (F64,
unnormalised), <signal>.features (F64, normalised), and filterbank (F64, 80 x 257).
"""

import os
import sys

import librosa
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "support"))
from safetensors_writer import write  # noqa: E402
RATE, N_FFT, WIN, HOP, MELS, FMAX = 16000, 512, 400, 160, 80, 4000.0


def log_mel(x, filterbank):
    x = np.asarray(x, dtype=np.float64)
    y = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    padded = np.concatenate([np.zeros(N_FFT // 2), y, np.zeros(N_FFT // 2)])
    window = np.zeros(N_FFT)
    window[(N_FFT - WIN) // 2:(N_FFT - WIN) // 2 + WIN] = np.hanning(WIN)
    frames = 1 + len(x) // HOP
    out = np.empty((frames, MELS))
    for t in range(frames):
        spectrum = np.fft.rfft(padded[t * HOP:t * HOP + N_FFT] * window)
        out[t] = np.log(filterbank @ (np.abs(spectrum) ** 2) + 2.0 ** -24)
    normalised = (out - out.mean(axis=0)) / (out.std(axis=0, ddof=1) + 1e-5)
    return out, normalised


def main():
    rng = np.random.default_rng(18)
    filterbank = librosa.filters.mel(sr=RATE, n_fft=N_FFT, n_mels=MELS, fmin=0.0, fmax=FMAX, htk=False,
                                     norm="slaney", dtype=np.float64)
    t = np.arange(int(0.73 * RATE)) / RATE
    phase = 2 * np.pi * (100 * t + 0.5 * (3800 - 100) / t[-1] * t ** 2)
    chirp = 0.5 * np.sin(phase) + 0.2 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)
    chirp += 10 ** (-50 / 20) * rng.standard_normal(len(t))
    t = np.arange(int(0.21 * RATE)) / RATE
    short = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 1800 * t) + 0.01 * rng.standard_normal(len(t))
    out = {"filterbank": filterbank}
    for name, signal in (("chirp", chirp), ("short", short)):
        samples = signal.astype(np.float32)
        raw, normalised = log_mel(samples, filterbank)
        out[f"{name}.samples"] = samples
        out[f"{name}.log_mel"] = raw
        out[f"{name}.features"] = normalised
    write(os.path.join(HERE, "log_mel_golden.safetensors"), out, made_by="tests/examples/asr/golden/make_log_mel_golden.py", librosa=librosa.__version__, numpy=np.__version__)


if __name__ == "__main__":
    main()
