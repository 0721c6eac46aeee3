"""Where a judge round trip's microseconds go: the Python work of one call vs the socket.

Times, in this process, the work both ends do for one candidate call (the judge pickles the
request; the candidate unpickles it, encodes the answer and the mutated argument with the
restricted codec and the record encoder; the judge parses the JSON and decodes both), and then
a bare ping-pong of one small frame between two processes over a socketpair: the two
wake-ups every round trip costs, with no Python work on either side.

    .venv/bin/python benchmarks/sandbox_roundtrip.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sandbox" / "_child"))

import child_codec  # noqa: E402
from child_judge import decode_plain  # noqa: E402
from child_runner import _record_encoder  # noqa: E402

ARGS = ([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3)  # HumanEval/0's first call


def python_work_us(calls: int) -> float:
    dumps = _record_encoder()
    started = time.perf_counter()
    for _ in range(calls):
        request = pickle.dumps(("c", 0, ARGS, {}), protocol=pickle.HIGHEST_PROTOCOL)  # judge
        _op, _target, args, _kwargs = pickle.loads(request)  # candidate
        reply = ["R", ["v", child_codec.encode(True)], [[0, child_codec.encode(args[0])]]]
        line = dumps(reply).encode()
        answer = json.loads(line)  # judge
        decode_plain(answer[1][1])
        decode_plain(answer[2][0][1])
    return (time.perf_counter() - started) / calls * 1e6


def ping_pong_us(calls: int) -> float:
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        fd = theirs.fileno()
        while data := os.read(fd, 1 << 16):
            os.write(fd, data)
        os._exit(0)
    theirs.close()
    fd = ours.fileno()
    frame = (64).to_bytes(4, "big") + b"x" * 64
    for _ in range(1000):  # warm-up
        os.write(fd, frame)
        os.read(fd, 1 << 16)
    started = time.perf_counter()
    for _ in range(calls):
        os.write(fd, frame)
        os.read(fd, 1 << 16)
    elapsed = time.perf_counter() - started
    ours.close()
    os.waitpid(pid, 0)
    return elapsed / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    work = python_work_us(args.calls)
    wire = ping_pong_us(args.calls)
    print(f"load {load:.1f}: Python work per call, both ends {work:.1f} us; bare socket round trip {wire:.1f} us")


if __name__ == "__main__":
    main()
