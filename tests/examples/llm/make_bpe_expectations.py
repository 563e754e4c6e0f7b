#!/usr/bin/env python3
"""Expected GPT-2 BPE ids for tests/examples/llm/test_tokenizers.cpp.

Where the numbers come from: two independent encoders of GPT-2's own files
(../shared/data/gpt2-bpe/encoder.json and vocab.bpe), which must agree on every case:
  1. `Reference` below: GPT-2's algorithm (openai/gpt-2 src/encoder.py) restated for
     this script, on Python's `regex` module, as encoder.py uses it;
  2. Hugging Face `tokenizers` (Rust) ByteLevelBPETokenizer loading the same two local files.
Neither downloads anything. The Tiny Shakespeare counts also match nanoGPT's
data/shakespeare/prepare.py (tiktoken "gpt2"): "train has 301,966 tokens, val has 36,059 tokens".

Run:  python3 -m venv /tmp/venv && /tmp/venv/bin/pip install regex tokenizers
      /tmp/venv/bin/python tests/examples/llm/make_bpe_expectations.py [../shared/data]
It prints the C++ table and constants that the test holds.
"""
import json
import random
import sys
import textwrap
import unicodedata
from pathlib import Path

import regex
from tokenizers import ByteLevelBPETokenizer

PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def byte_alphabet():
    """encoder.py's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest for U+0100..."""
    printable = [b for b in range(256) if ord("!") <= b <= ord("~") or 0xA1 <= b <= 0xAC or b >= 0xAE]
    substitutes = iter(range(0x100, 0x200))
    return {b: chr(b) if b in printable else chr(next(substitutes)) for b in range(256)}


class Reference:
    def __init__(self, directory):
        self.encoder = json.loads((directory / "encoder.json").read_text(encoding="utf-8"))
        lines = (directory / "vocab.bpe").read_text(encoding="utf-8").split("\n")[1:]
        self.ranks = {tuple(line.split()): rank for rank, line in enumerate(l for l in lines if l)}
        self.alphabet = byte_alphabet()

    def merge(self, word):
        """encoder.py's bpe(): merge the lowest-ranked adjacent pair everywhere, left to right, until none."""
        symbols = list(word)
        while len(symbols) > 1:
            pairs = {(a, b) for a, b in zip(symbols, symbols[1:]) if (a, b) in self.ranks}
            if not pairs:
                break
            first, second = min(pairs, key=self.ranks.get)
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return symbols

    def encode(self, text):
        ids = []
        for piece in PATTERN.findall(text):
            spelled = "".join(self.alphabet[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[token] for token in self.merge(spelled))
        return ids


# Each case exercises one part of the pre-tokeniser or the merges; the test prints the label on failure.
CASES = [
    ("hello", "Hello world"),
    ("shakespeare opening", "First Citizen:\nBefore we proceed any further, hear me speak."),
    ("contractions", "I'm sure you'll see they've done it; we'd say it's Bob's, isn't it?"),
    ("uppercase contractions are not special", "I'M HERE, DON'T GO, WE'LL"),
    ("whitespace runs", "  two leading,   three inside, tab\there\n\n\ntrailing   \n"),
    ("space before newline", "end of line \nnext line  \n  indented"),
    ("digits", "In 1564, 23 April; pi = 3.14159265358979, 1000000007 and 2024-01-01."),
    ("punctuation runs", "Wait... what?!?! --> (yes) [no] {maybe} <|endoftext|> ##$$%%"),
    ("end of text is ordinary text", "<|endoftext|>"),
    ("accents", "naïve café, façade, Ærøskøbing, São Paulo, Москва"),
    ("combining marks", "cafe\u0301 n\u0303 a\u0308\u0301 \u0915\u094d\u0937"),
    ("cjk", "日本語のテキストです。中文也可以，한국어도 됩니다"),
    ("emoji", "emoji 🎉👍🏽 family 👨\u200d👩\u200d👧 flag 🇫🇷!"),
    ("unicode spaces", "no\u00a0break, ideographic\u3000space, thin\u2009space, line\u2028sep"),
    ("separators that are not white space",
     "a\u180eb x \u180eb y \u180e\u180ey c\x1cd \x1c\x1dz e\x85f  \x85g a \u200bb"),
    ("code", "def f(x):\n    return {'a': [1, 2]}  # comment\n"),
    ("long run of spaces", " " * 40 + "x"),
    ("long run of letters", "a" * 37),
    ("long run of digits", "1" * 25),
    ("long run of symbols", "!?" * 20),
    ("random letters", "".join(random.Random(7).choices("etaoinshrdlucmfw", k=160))),
]


def cpp_string(text, indent):
    """A C++ literal, split into adjacent literals of at most 90 columns: printable characters as
    they are, invisible ones and combining marks as universal character names."""
    pieces = []
    for c in text:
        category = unicodedata.category(c)
        if c in "\\\"":
            pieces.append("\\" + c)
        elif c == "\n":
            pieces.append("\\n")
        elif c == "\t":
            pieces.append("\\t")
        elif 0x20 <= ord(c) < 0x7F or (category[0] in "LNPS" and category != "Sk"):
            pieces.append(c)
        else:
            pieces.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
    lines, line = [], ""
    for piece in pieces:
        if len(line) + len(piece) > 88:
            lines.append(line)
            line = ""
        line += piece
    lines.append(line)
    return ("\n" + " " * indent).join(f'"{line}"' for line in lines)


def fingerprint(ids):
    """FNV-1a (64-bit) over the ids as little-endian 32-bit integers: the test computes the same."""
    h = 0xCBF29CE484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001B3) % (1 << 64)
    return h


def main():
    data = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[4] / "shared" / "data")
    reference = Reference(data / "gpt2-bpe")
    hf = ByteLevelBPETokenizer(str(data / "gpt2-bpe" / "encoder.json"), str(data / "gpt2-bpe" / "vocab.bpe"))

    def encode(text):
        ours, theirs = reference.encode(text), hf.encode(text).ids
        if ours != theirs:
            sys.exit(f"the two references disagree on {text!r}:\n{ours}\n{theirs}")
        return ours

    print("const BpeCase kBpeCases[] = {")
    for label, text in CASES:
        ids = textwrap.fill(", ".join(map(str, encode(text))), width=104, initial_indent=" " * 5,
                            subsequent_indent=" " * 6)
        print(f'    {{"{label}",\n     {cpp_string(text, 5)},\n     {{{ids.strip()}}}}},')
    print("};")

    text = (data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    split = int(len(text) * 0.9)  # nanoGPT's split, in characters (the file is ASCII, so also bytes)
    train, val, whole = encode(text[:split]), encode(text[split:]), encode(text)
    print(f"train {len(train)}, val {len(val)}, whole {len(whole)}, "
          f"whole fingerprint 0x{fingerprint(whole):016X}")


if __name__ == "__main__":
    main()
