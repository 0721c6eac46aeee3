"""benchmarks/pyspy_summary.py: waits are not CPU, a function counts once per sample, --under."""

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "pyspy_summary.py"
_spec = importlib.util.spec_from_file_location("pyspy_summary", _PATH)
pyspy_summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pyspy_summary)

PROFILE = [
    "run (threading.py:982);serve (loop.py:10);complete (client.py:5);encode (tok.py:7) 6\n",
    "run (threading.py:982);serve (loop.py:10);complete (client.py:5);complete (client.py:9) 3\n",
    "run (threading.py:982);_worker (concurrent/futures/thread.py:81) 50\n",
    "run (threading.py:982);verify (verification.py:3) 4\n",
]


def test_waits_are_apart_and_a_recursive_function_counts_once_per_sample():
    running, inclusive, waiting = pyspy_summary.summarise(PROFILE)
    assert running == 13 and sum(waiting.values()) == 50
    assert inclusive["complete (client.py)"] == 9  # two frames of one sample: counted once
    assert inclusive["run (threading.py)"] == 13


def test_under_keeps_only_the_samples_below_that_frame():
    running, inclusive, _ = pyspy_summary.summarise(PROFILE, under="serve")
    assert running == 9
    assert "run (threading.py)" not in inclusive and inclusive["encode (tok.py)"] == 6
