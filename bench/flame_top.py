"""Summarise py-spy collapsed stacks (`--format raw`): inclusive share per function.

.venv/bin/python bench/flame_top.py bench/results/profile-status-postgres.txt [N]
"""

import re
import sys
from collections import Counter
from pathlib import Path


def top(path: Path, limit: int = 40) -> list[tuple[str, float]]:
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        seen = set()
        for frame in stack.split(";"):
            name = re.sub(r" \((.*?):\d+\)$", r" (\1)", frame)  # drop line numbers
            name = re.sub(r"/work/main/\.venv/lib/python3\.\d+/site-packages/", "", name)
            name = re.sub(r"/work/main/", "", name)
            if name not in seen:
                seen.add(name)
                inclusive[name] += n
    return [(name, 100 * n / total) for name, n in inclusive.most_common(limit)]


if __name__ == "__main__":
    for name, share in top(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 40):
        print(f"{share:5.1f}%  {name}")
