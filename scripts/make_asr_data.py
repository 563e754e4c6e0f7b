"""Makes the ASR example's optional data sets (scripts/asr_data.sh runs it after installing
espeak-ng and the asterisk prompts): python3 scripts/make_asr_data.py OUT_DIR [--seed 18]
[--train 1200] [--test 200]. Each set is a folder with WAV files and a NeMo-style manifest.jsonl
({"audio_filepath", "text", "speaker"} per line), read by `asr train` and `asr eval` with
--extra-data OUT_DIR.

  espeak/train, espeak/test  digit strings (1-5 digits) spoken by espeak-ng. Each utterance draws,
      from a random.Random(seed) stream: an accent, a voice variant, a rate (120-200 words per
      minute), a pitch (25-75) and the digits. The accents are split: en-029 (Caribbean) and
      en-gb-x-gbcwmd (West Midlands) speak only the test set, the other five only the training set,
      so the test accents are unheard in training. espeak-ng writes 22.05 kHz WAV; the example
      resamples.
  asterisk   the ten digit prompts of Debian's asterisk-core-sounds-en-wav (Allison Smith's voice,
      8 kHz, CC-BY-SA-3.0), with their transcripts from asterisk-core-sounds-en's
      core-sounds-en.txt.gz ("digits/7: seven"). `asr eval` joins them into strings itself.

The same seed gives the same utterances (espeak-ng 1.51 is deterministic); an existing set is
left alone unless --force.
"""

import argparse
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

TRAIN_ACCENTS = ["en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp"]
TEST_ACCENTS = ["en-029", "en-gb-x-gbcwmd"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
            "croak", "Andy", "Annie", "Alex", "david", "edward", "john", "linda", "max", "paul", "robert", "steph"]
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ASTERISK_DIR = "/usr/share/asterisk/sounds/en_US_f_Allison/digits"
ASTERISK_TRANSCRIPTS = "/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"


def progress(done, total, what, start):
    """A line every 100 utterances and at the end: count, rate, time left."""
    if done % 100 and done != total:
        return
    rate = done / max(time.monotonic() - start, 1e-9)
    print(f"{what}: {done}/{total} | {rate:.0f} utt/s | ETA {(total - done) / rate:.0f}s", file=sys.stderr, flush=True)


def make_espeak(folder, accents, count, rng, force):
    manifest = os.path.join(folder, "manifest.jsonl")
    if os.path.exists(manifest) and not force:
        print(f"{manifest} exists; left alone (--force remakes it)")
        return
    os.makedirs(folder, exist_ok=True)
    lines, start = [], time.monotonic()
    for i in range(count):
        accent, variant = rng.choice(accents), rng.choice(VARIANTS)
        rate, pitch = rng.randint(120, 200), rng.randint(25, 75)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5)))
        name = f"{i:05d}.wav"
        subprocess.run(["espeak-ng", "-v", f"{accent}+{variant}", "-s", str(rate), "-p", str(pitch), "-w",
                        os.path.join(folder, name), text], check=True)
        lines.append(json.dumps({"audio_filepath": name, "text": text, "speaker": f"{accent}+{variant}",
                                 "rate": rate, "pitch": pitch}))
        progress(i + 1, count, folder, start)
    with open(manifest + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(manifest + ".tmp", manifest)


def make_asterisk(folder, force):
    manifest = os.path.join(folder, "manifest.jsonl")
    if os.path.exists(manifest) and not force:
        print(f"{manifest} exists; left alone (--force remakes it)")
        return
    with gzip.open(ASTERISK_TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as f:
        transcripts = dict(re.findall(r"^digits/([0-9]): *([a-z]+)", f.read(), re.M))
    if sorted(transcripts) != [str(d) for d in range(10)]:
        sys.exit(f"make_asr_data: {ASTERISK_TRANSCRIPTS} lacks some of digits/0-9: found {sorted(transcripts)}")
    os.makedirs(folder, exist_ok=True)
    lines = []
    for digit, text in sorted(transcripts.items()):
        name = f"{digit}.wav"
        shutil.copyfile(os.path.join(ASTERISK_DIR, name), os.path.join(folder, name))
        lines.append(json.dumps({"audio_filepath": name, "text": text, "speaker": "allison"}))
    with open(manifest + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(manifest + ".tmp", manifest)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir")
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--train", type=int, default=1200)
    p.add_argument("--test", type=int, default=200)
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    rng = random.Random(args.seed)
    make_espeak(os.path.join(args.out_dir, "espeak", "train"), TRAIN_ACCENTS, args.train, rng, args.force)
    make_espeak(os.path.join(args.out_dir, "espeak", "test"), TEST_ACCENTS, args.test, random.Random(args.seed + 1),
                args.force)
    make_asterisk(os.path.join(args.out_dir, "asterisk"), args.force)
    print(f"made {args.out_dir}: espeak/train ({args.train}), espeak/test ({args.test}), asterisk (10 prompts)")


if __name__ == "__main__":
    main()
