"""Summarise a py-spy `--format raw` profile (collapsed stacks): where the engine's time goes.

    .venv/bin/python bench/profile_summary.py .cache/bench-load/profile.txt [TOP]
"""
from __future__ import annotations

import sys
from collections import Counter


def main(path: str, top: int = 25) -> None:
    self_t, incl, total = Counter(), Counter(), 0
    for line in open(path, errors="replace"):
        stack, _, n = line.rstrip().rpartition(" ")
        if not stack or not n.isdigit():
            continue
        n = int(n)
        total += n
        frames = stack.split(";")
        self_t[_short(frames[-1])] += n
        for f in {_short(f) for f in frames}:
            incl[f] += n
    print(f"{total} samples")
    print("self time (leaf frames):")
    for f, n in self_t.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {f}")
    print("inclusive time:")
    for f, n in incl.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {f}")


def _short(frame: str) -> str:
    # "func (path/to/file.py:123)" → "func (file.py)" so lines of one function add up
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 2)
    return f"{name} ({'/'.join(file[-2:])})"


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25)
