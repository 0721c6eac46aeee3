"""Build ``problems.jsonl``: patflow's small stdin/stdout problem set (the ``stdio-demo`` built-in).

Twelve hand-written problems, each with a statement, a reference solution, public examples and
hidden tests. Hidden inputs come from a seeded generator; every expected output is produced by
running the problem's reference solution (written for this set) in a fresh interpreter, so the
file is reproducible: ``python data/stdio/build.py`` rewrites it byte for byte.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).with_name("problems.jsonl")


def _ints(rng: random.Random, count: int, low: int, high: int) -> list[int]:
    return [rng.randint(low, high) for _ in range(count)]


def _sum_pair(rng):
    return f"{rng.randint(-10**9, 10**9)} {rng.randint(-10**9, 10**9)}\n"


def _reverse_words(rng):
    words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, 8))]
    return " ".join(words) + "\n"


def _vowels(rng):
    return "".join(rng.choice("aeiouxyzAEIOUbcdXYZ ") for _ in range(rng.randint(0, 40))) + "\n"


def _fibonacci(rng):
    return f"{rng.randint(0, 90)}\n"


def _primes(rng):
    values = _ints(rng, rng.randint(1, 8), 1, 10**6)
    return f"{len(values)}\n" + "\n".join(map(str, values)) + "\n"


def _sort(rng):
    values = _ints(rng, rng.randint(1, 15), -100, 100)
    return f"{len(values)}\n{' '.join(map(str, values))}\n"


def _kadane(rng):
    values = _ints(rng, rng.randint(1, 15), -50, 50)
    return f"{len(values)}\n{' '.join(map(str, values))}\n"


def _brackets(rng):
    lines = ["".join(rng.choice("()[]{}") for _ in range(rng.randint(0, 10))) for _ in range(rng.randint(1, 5))]
    lines.append(rng.choice(["([]{})", "(()", "{[()()]}"]))
    return f"{len(lines)}\n" + "\n".join(lines) + "\n"


def _frequent(rng):
    words = [rng.choice(["apple", "pear", "fig", "kiwi", "plum"]) for _ in range(rng.randint(1, 12))]
    return " ".join(words) + "\n"


def _gcd_lcm(rng):
    values = _ints(rng, rng.randint(1, 6), 1, 60)
    return f"{len(values)}\n{' '.join(map(str, values))}\n"


def _transpose(rng):
    rows, cols = rng.randint(1, 4), rng.randint(1, 4)
    lines = [" ".join(map(str, _ints(rng, cols, 0, 9))) for _ in range(rows)]
    return f"{rows} {cols}\n" + "\n".join(lines) + "\n"


def _grid(rng):
    rows, cols = rng.randint(2, 6), rng.randint(2, 6)
    grid = [["#" if rng.random() < 0.25 else "." for _ in range(cols)] for _ in range(rows)]
    grid[0][0] = grid[rows - 1][cols - 1] = "."
    return f"{rows} {cols}\n" + "\n".join("".join(row) for row in grid) + "\n"


PROBLEMS = [
    ("stdio/sum-two", "Read two integers a and b on one line and print a + b.",
     "a, b = map(int, input().split())\nprint(a + b)\n", ["1 2\n", "-5 5\n"], _sum_pair),
    ("stdio/reverse-words", "Read one line of words separated by single spaces and print the words in reverse order, separated by single spaces.",
     "print(' '.join(input().split()[::-1]))\n", ["hello world\n", "a b c\n"], _reverse_words),
    ("stdio/count-vowels", "Read one line and print how many of its characters are vowels (a, e, i, o, u, in either case).",
     "import sys\nline = sys.stdin.readline().rstrip('\\n')\nprint(sum(ch in 'aeiouAEIOU' for ch in line))\n",
     ["Hello World\n", "xyz\n"], _vowels),
    ("stdio/fibonacci", "Read n (0 <= n <= 90) and print the n-th Fibonacci number, where F(0) = 0 and F(1) = 1.",
     "n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(a)\n", ["0\n", "10\n"], _fibonacci),
    ("stdio/prime-queries", "The first line holds q. Each of the next q lines holds an integer x (1 <= x <= 10^6). For each x print YES if x is prime, otherwise NO, one answer per line.",
     "import sys\ndata = sys.stdin.read().split()\nq = int(data[0])\nout = []\nfor token in data[1:1 + q]:\n    x = int(token)\n    prime = x >= 2 and all(x % d for d in range(2, int(x ** 0.5) + 1))\n    out.append('YES' if prime else 'NO')\nprint('\\n'.join(out))\n",
     ["3\n2\n4\n17\n"], _primes),
    ("stdio/sort-numbers", "The first line holds n, the second n integers. Print them sorted in non-decreasing order on one line, separated by spaces.",
     "input()\nprint(' '.join(map(str, sorted(map(int, input().split())))))\n", ["5\n3 1 2 5 4\n"], _sort),
    ("stdio/max-subarray", "The first line holds n, the second n integers. Print the largest sum of a non-empty contiguous subarray.",
     "input()\nvalues = list(map(int, input().split()))\nbest = current = values[0]\nfor value in values[1:]:\n    current = max(value, current + value)\n    best = max(best, current)\nprint(best)\n",
     ["5\n-2 1 -3 4 -1\n", "3\n-3 -1 -2\n"], _kadane),
    ("stdio/balanced-brackets", "The first line holds t. Each of the next t lines holds a string of the characters ()[]{} (possibly empty). Print YES if it is balanced, otherwise NO, one answer per line.",
     "import sys\nlines = sys.stdin.read().split('\\n')\nt = int(lines[0])\npairs = {')': '(', ']': '[', '}': '{'}\nfor line in lines[1:1 + t]:\n    stack = []\n    ok = True\n    for ch in line.strip():\n        if ch in '([{':\n            stack.append(ch)\n        elif not stack or stack.pop() != pairs[ch]:\n            ok = False\n            break\n    print('YES' if ok and not stack else 'NO')\n",
     ["2\n([])\n(]\n"], _brackets),
    ("stdio/most-frequent-word", "Read one line of lowercase words. Print the most frequent word and its count separated by a space; on a tie print the alphabetically smallest word.",
     "from collections import Counter\ncounts = Counter(input().split())\nword = min(counts, key=lambda w: (-counts[w], w))\nprint(word, counts[word])\n",
     ["b a b a c\n"], _frequent),
    ("stdio/gcd-lcm", "The first line holds n, the second n positive integers. Print their greatest common divisor and least common multiple separated by a space.",
     "from math import gcd\ninput()\nvalues = list(map(int, input().split()))\ng = l = values[0]\nfor v in values[1:]:\n    g = gcd(g, v)\n    l = l * v // gcd(l, v)\nprint(g, l)\n",
     ["3\n4 6 8\n"], _gcd_lcm),
    ("stdio/transpose", "The first line holds r and c, then r lines of c integers. Print the transposed matrix: c lines of r integers separated by spaces.",
     "r, c = map(int, input().split())\nrows = [input().split() for _ in range(r)]\nfor j in range(c):\n    print(' '.join(rows[i][j] for i in range(r)))\n",
     ["2 3\n1 2 3\n4 5 6\n"], _transpose),
    ("stdio/grid-path", "The first line holds r and c, then r lines of c characters: '.' free, '#' wall. Moving up, down, left or right between free cells, print the fewest moves from the top-left to the bottom-right cell, or -1 if it cannot be reached.",
     "from collections import deque\nr, c = map(int, input().split())\ngrid = [input().strip() for _ in range(r)]\ndist = {(0, 0): 0}\nqueue = deque([(0, 0)])\nwhile queue:\n    y, x = queue.popleft()\n    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):\n        ny, nx = y + dy, x + dx\n        if 0 <= ny < r and 0 <= nx < c and grid[ny][nx] == '.' and (ny, nx) not in dist:\n            dist[(ny, nx)] = dist[(y, x)] + 1\n            queue.append((ny, nx))\nprint(dist.get((r - 1, c - 1), -1))\n",
     ["3 3\n...\n.#.\n...\n", "2 2\n.#\n#.\n"], _grid),
]
HIDDEN_PER_PROBLEM = 8


def _run(reference: str, stdin: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-I", "-c", reference], input=stdin, capture_output=True, text=True, timeout=30, check=True
    )
    return completed.stdout


def main() -> None:
    lines = []
    for index, (task_id, statement, reference, public_inputs, generate) in enumerate(PROBLEMS):
        rng = random.Random(1000 + index)
        hidden_inputs = [generate(rng) for _ in range(HIDDEN_PER_PROBLEM)]
        record = {
            "task_id": task_id,
            "statement": statement,
            "public_tests": [{"input": s, "output": _run(reference, s)} for s in public_inputs],
            "hidden_tests": [{"input": s, "output": _run(reference, s)} for s in hidden_inputs],
            "time_limit_s": 2.0,
            "reference_solution": reference,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} problems to {OUT}")


if __name__ == "__main__":
    main()
