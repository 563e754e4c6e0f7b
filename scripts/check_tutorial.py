#!/usr/bin/env python3
"""Fails unless every C++ snippet of docs/tutorial.md is, verbatim, a region of
tests/downstream/tutorial.cpp, the program CI compiles and runs against an installed mantissa.

In the tutorial a snippet is a ```cpp block preceded by `<!-- snippet: NAME -->`; in the
program, the lines between `// tutorial: NAME` and `// end tutorial`, compared after removing
their common indentation. Every snippet must exist on both sides.
Usage: check_tutorial.py [REPOSITORY_ROOT]
"""
import pathlib
import re
import sys
import textwrap


def doc_snippets(text):
    pattern = re.compile(r"<!-- snippet: (\S+) -->\s*```cpp\n(.*?)```", re.S)
    return {name: textwrap.dedent(body).strip() for name, body in pattern.findall(text)}


def program_snippets(text):
    pattern = re.compile(r"^[ \t]*// tutorial: (\S+)\n(.*?)^[ \t]*// end tutorial", re.S | re.M)
    return {name: textwrap.dedent(body).strip() for name, body in pattern.findall(text)}


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    doc = doc_snippets((root / "docs/tutorial.md").read_text(encoding="utf-8"))
    program = program_snippets((root / "tests/downstream/tutorial.cpp").read_text(encoding="utf-8"))
    problems = [f"snippet '{n}' is in docs/tutorial.md but not in tutorial.cpp" for n in doc if n not in program]
    problems += [f"snippet '{n}' is in tutorial.cpp but not in docs/tutorial.md" for n in program if n not in doc]
    problems += [f"snippet '{n}' differs between docs/tutorial.md and tutorial.cpp"
                 for n in doc if n in program and doc[n] != program[n]]
    for p in problems:
        print(p)
    print(f"tutorial: {len(doc)} snippets in the doc, {len(program)} in the program, {len(problems)} problem(s)")
    return 1 if problems or not doc else 0


if __name__ == "__main__":
    sys.exit(main())
