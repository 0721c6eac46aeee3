"""Where a process's CPU went, from a py-spy raw profile: inclusive samples per function.

py-spy (from PyPI; kept outside the project's environment) samples every thread of a process.
Without ``--idle`` it still reports threads blocked in some waits (a thread pool's queue, a
``select``), so samples whose innermost frame is one of ``WAITS`` are counted apart, not as CPU.

Record, then summarise (``--under`` keeps the samples below a frame, e.g. one thread's loop):
  python3 -m pip install --target /tmp/pyspy py-spy
  PATFLOW_DATA_DIR=../shared/datasets /tmp/pyspy/bin/py-spy record -r 200 --format raw -o profile.txt -- \\
      .venv/bin/python benchmarks/worker_memory_probe.py --items 20000 --in-process 3 --chunk-size 256
  .venv/bin/python benchmarks/pyspy_summary.py profile.txt --under _start_loop --top 40
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

# Innermost frames that are a thread waiting, not running: a pool's idle queue, the sandbox
# watcher's select, a condition wait, the event loop's selector.
WAITS = ("thread.py:81)", "watch.py:199)", "threading.py:327)", "threading.py:331)", "selectors.py:468)")
_LINE = re.compile(r":\d+\)")


def summarise(lines, under: str | None = None) -> tuple[int, Counter, Counter]:
    """(running samples, inclusive samples per function, waiting samples per innermost frame)."""
    inclusive: Counter = Counter()
    waiting: Counter = Counter()
    running = 0
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack:
            continue
        frames, samples = stack.split(";"), int(count)
        if frames[-1].endswith(WAITS):
            waiting[frames[-1]] += samples
            continue
        if under:
            starts = [i for i, frame in enumerate(frames) if under in frame]
            if not starts:
                continue
            frames = frames[starts[0]:]
        running += samples
        for function in {_LINE.sub(")", frame) for frame in frames}:
            inclusive[function] += samples
    return running, inclusive, waiting


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile")
    parser.add_argument("--under", default=None, help="only samples below the first frame containing this")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    with open(args.profile) as lines:
        running, inclusive, waiting = summarise(lines, args.under)
    print(f"running samples: {running}; waiting (not counted): {sum(waiting.values())}")
    for function, samples in inclusive.most_common(args.top):
        print(f"{samples:7d} {100 * samples / max(running, 1):5.1f}%  {function[:150]}")


if __name__ == "__main__":
    main()
