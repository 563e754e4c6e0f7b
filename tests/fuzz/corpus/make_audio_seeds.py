"""Writes the seeds of the audio_file fuzz target: short synthetic tones (no recordings are
copied) in the containers and sample formats libsndfile reads for the ASR example.
Run from the repository root: python3 tests/fuzz/corpus/make_audio_seeds.py"""
import math
import os
import struct
import warnings
import wave

with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)  # both are fine for writing seeds
    import aifc
    import sunau

SEEDS = 'tests/fuzz/corpus/audio_file/'
RATE = 8000  # the lowest rate the reader accepts
TONE = [0.5 * math.sin(2 * math.pi * 440 * i / RATE) for i in range(400)]  # 50 ms of A4


def pcm16(samples, byteorder):
    return b''.join(int(s * 32767).to_bytes(2, byteorder, signed=True) for s in samples)


def write_wav_pcm16(name, channels):
    with wave.open(SEEDS + name, 'wb') as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm16([s for s in TONE for _ in range(channels)], 'little'))


def write_wav_float(name):
    """WAVE_FORMAT_IEEE_FLOAT (3), which the stdlib does not write: chunks by hand."""
    data = struct.pack(f'<{len(TONE)}f', *TONE)
    fmt = struct.pack('<HHIIHH', 3, 1, RATE, RATE * 4, 4, 32)
    body = b'WAVE' + b'fmt ' + struct.pack('<I', len(fmt)) + fmt + b'data' + struct.pack('<I', len(data)) + data
    with open(SEEDS + name, 'wb') as f:
        f.write(b'RIFF' + struct.pack('<I', len(body)) + body)


def write_big_endian(module, name):
    with module.open(SEEDS + name, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm16(TONE, 'big'))


os.makedirs(SEEDS, exist_ok=True)
write_wav_pcm16('tone_pcm16.wav', 1)
write_wav_pcm16('tone_pcm16_stereo.wav', 2)
write_wav_float('tone_float32.wav')
write_big_endian(aifc, 'tone_pcm16.aiff')
write_big_endian(sunau, 'tone_pcm16.au')
