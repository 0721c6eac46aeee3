"""The sandbox's contract: what a caller hands in and what comes back.

Plain frozen dataclasses, standard library only. The test formats are data: the sandbox has
no notion of which benchmark a test came from, only of these four shapes.

- ``CheckFunctionTests``: code that defines ``check(candidate)`` (HumanEval); one test.
- ``AssertTests``: a list of assert statements, each one test; ``setup_code`` runs after the
  candidate program, in the candidate's process (MBPP's ``test_setup_code`` uses classes the
  solution defines), ``imports`` before it.
  Both run their test code in a judge process of its own, never beside the candidate; the
  names the test code uses that the program defines are reached through plain-data requests.
- ``CallTests``: call ``entry_point(*args)`` for each input. The child only ever sees the
  inputs; it returns the outputs and the parent compares them with ``expected`` (so expected
  values never enter the child). With ``expected=None`` nothing is compared and the outputs
  are returned (used to compute ground truth from a reference solution).
- ``StdioTests``: run the program with each stdin; compare stdout, whitespace-tolerant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

TestStatus = str
"""One of: passed, failed, error:<ExceptionType>, timeout, memory_exceeded, output_limit,
syntax_error, crashed, no_result. An unknown outcome is never ``passed``."""

PASSED = "passed"
FAILED = "failed"
TIMEOUT = "timeout"
MEMORY_EXCEEDED = "memory_exceeded"
OUTPUT_LIMIT = "output_limit"
SYNTAX_ERROR = "syntax_error"
CRASHED = "crashed"
NO_RESULT = "no_result"
NO_TESTS = "no_tests"


def error_status(exception_type: str) -> TestStatus:
    return f"error:{exception_type}"


@dataclass(frozen=True)
class Limits:
    """Resource limits applied in the child. ``timeout_s`` is wall time per test."""

    timeout_s: float = 5.0
    memory_mb: int = 1024
    cpu_s: float | None = None  # default: derived from the total time budget
    max_processes: int = 16
    file_size_mb: int = 16
    open_files: int = 64
    output_bytes: int = 64 * 1024


@dataclass(frozen=True)
class CheckFunctionTests:
    test_code: str
    entry_point: str
    # Trusted definitions the test code uses (HumanEval/32's ``poly`` from the prompt): run in
    # the judge before the test code, so a candidate's own ``poly`` is never the one called.
    helpers: str = ""
    kind: Literal["check_function"] = "check_function"


@dataclass(frozen=True)
class AssertTests:
    asserts: tuple[str, ...]
    setup_code: str = ""  # runs after the candidate program
    imports: str = ""  # runs before the candidate program (and in the judge, before the tests)
    helpers: str = ""  # trusted definitions the asserts use, as CheckFunctionTests.helpers
    # The function under test, if known: a builtin name it shadows (MBPP/126's ``sum``) is the
    # program's in the asserts; every other builtin name stays the judge's own.
    entry_point: str = ""
    kind: Literal["asserts"] = "asserts"


@dataclass(frozen=True)
class CallTests:
    entry_point: str
    inputs: tuple[tuple[Any, ...], ...]  # positional arguments per call
    expected: tuple[Any, ...] | None = None  # None: return outputs, compare nothing
    atol: float = 0.0
    # How an output is compared with the expected value: "equal" (with atol for floats),
    # or "polynomial_root" (output x passes when |poly(coefficients=args[0], x)| <= atol).
    comparison: Literal["equal", "polynomial_root"] = "equal"
    kind: Literal["call"] = "call"


@dataclass(frozen=True)
class StdioTests:
    cases: tuple[tuple[str, str], ...]  # (stdin, expected stdout)
    kind: Literal["stdio"] = "stdio"


TestSpec = Union[CheckFunctionTests, AssertTests, CallTests, StdioTests]


@dataclass(frozen=True)
class ExecutionRequest:
    program: str  # the candidate's full source
    tests: TestSpec
    limits: Limits = field(default_factory=Limits)
    # Optional per-test wall-time limits (same length as the tests); overrides limits.timeout_s.
    time_limits_s: tuple[float, ...] | None = None
    # Stop at the first test that does not pass (the rest are ``no_result``). The sample's
    # status is the same as a full run's; only ``tests_passed`` counts fewer tests.
    stop_on_first_failure: bool = False
    # Outputs mode only (``CallTests(expected=None)``): after a timed-out input, run the rest
    # (True), or stop there and report the rest ``no_result`` (False: a candidate that loops on
    # one input usually loops on the next, and each would cost the whole limit).
    resume_after_timeout: bool = True


@dataclass(frozen=True, slots=True)  # slots: built once per test, up to ~1,000 per execution
class TestVerdict:
    index: int
    status: TestStatus
    detail: str = ""  # truncated: expected vs got, exception message, signal name
    duration_ms: float = 0.0


@dataclass(frozen=True)
class ExecutionResult:
    status: TestStatus  # "passed" iff every test passed; else the first non-pass
    tests: tuple[TestVerdict, ...]
    duration_ms: float
    outputs: tuple[Any, ...] | None = None  # CallTests with expected=None only
    # For a timeout (the first one): did the process wait for a core long enough that load may
    # be the cause (True), or was it on the CPU / sleeping on its own (False)? None: unknown.
    timeout_starved: bool | None = None
    timeout_cpu_s: float | None = None  # that process's life on a CPU (fork-server mode)
    timeout_wait_s: float | None = None  # ... and runnable, waiting for a CPU

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def tests_passed(self) -> int:
        return sum(1 for t in self.tests if t.status == PASSED)
