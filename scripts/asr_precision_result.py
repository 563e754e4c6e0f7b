"""One ASR precision run's result, or the table of several (scripts/asr_precision_table.sh).

  python3 scripts/asr_precision_result.py RUN_DIR               -> JSON on stdout
  python3 scripts/asr_precision_result.py --table RESULT.json... -> Markdown table on stdout

A run that diverged (a null loss in metrics.jsonl) and was stopped before its evaluation
has no eval files: its row says by which logged step the loss was NaN. A run folder holds eval.txt (`asr eval`'s output: one row per test set, "name utterances WER CER"),
eval-lexicon.txt (the same with `--lexicon digits`; older runs lack it),
metrics.jsonl (ms_per_step on the progress lines; the last one is the run's average) and
precision.jsonl (memory records with bytes_per_parameter). The result also names the CPU
(model and the flags that decide low-precision speed), the commit that trained it (RUN_DIR/commit) and the date, since the
table's rows may come from different sessions' machines.
"""

import datetime
import json
import os
import re
import sys

SETS = ["fsdd-single", "fsdd-joined", "espeak", "asterisk-single", "asterisk-joined"]


def wers(path):
    wer = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^(\S+)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)$", line.strip())
            if m:
                wer[m.group(1)] = float(m.group(3))
    return wer


def result(run):
    evaluated = os.path.join(run, "eval.txt")
    wer = wers(evaluated) if os.path.exists(evaluated) else {}
    lexicon = os.path.join(run, "eval-lexicon.txt")
    wer_lexicon = wers(lexicon) if os.path.exists(lexicon) else {}
    ms, diverged_by = None, None
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            if record.get("ms_per_step") is not None:
                ms = record["ms_per_step"]
            if "loss" in record and record["loss"] is None and diverged_by is None:
                diverged_by = record["step"]  # JSON has no NaN: a non-finite loss is logged as null
    bytes_per_param = None
    path = os.path.join(run, "precision.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if record.get("kind") == "memory":
                    bytes_per_param = record["bytes_per_parameter"]
    return {"mode": os.path.basename(os.path.normpath(run)), "wer": wer, "wer_lexicon": wer_lexicon,
            "diverged_by_step": diverged_by, "ms_per_step": ms,
            "bytes_per_parameter": bytes_per_param, "cpu": cpu(), "date": datetime.date.today().isoformat(),
            "commit": open(os.path.join(run, "commit")).read().strip()}


def cpu():
    model, flags = "?", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    wanted = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    return f"{model} ({', '.join(wanted) or 'no avx2'}; {os.cpu_count()} cores)"


def table(paths):
    rows = []
    for path in paths:
        if os.path.exists(path):
            with open(path) as f:
                rows.append(json.load(f))
    sets = [s for s in SETS if any(s in r["wer"] for r in rows)]
    lexicon_sets = ["fsdd-single", "fsdd-joined"]
    print("| mode | " + " | ".join(f"WER {s} %" for s in sets) + " | " +
          " | ".join(f"with lexicon {s} %" for s in lexicon_sets) + " | ms/step | bytes/param | CPU, commit |")
    print("|---" * (len(sets) + len(lexicon_sets) + 4) + "|")
    for r in rows:
        cells = [f"{r['wer'][s]:.2f}" if s in r["wer"] else "-" for s in sets]
        if r.get("diverged_by_step") and not r["wer"]:
            cells[0] = f"diverged: NaN loss by step {r['diverged_by_step']}"
        with_lexicon = r.get("wer_lexicon", {})
        cells += [f"{with_lexicon[s]:.2f}" if s in with_lexicon else "-" for s in lexicon_sets]
        ms = f"{r['ms_per_step']:.0f}" if r["ms_per_step"] else "-"
        bpp = f"{r['bytes_per_parameter']:.2f}" if r["bytes_per_parameter"] else "-"
        print(f"| {r['mode']} | " + " | ".join(cells) + f" | {ms} | {bpp} | {r['cpu']}, {r['commit']} |")


def main():
    if sys.argv[1:2] == ["--table"]:
        table(sys.argv[2:])
    else:
        print(json.dumps(result(sys.argv[1])))


if __name__ == "__main__":
    main()
