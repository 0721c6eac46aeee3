"""The four test formats, the verdict taxonomy, outputs mode, comparisons and reward hacks.

These programs are well-behaved or merely wrong; hostile ones live in the jailed
conformance table (``test_sandbox_conformance.py``).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import site
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox import execute, launch
from sandbox.types import (
    AssertTests,
    CallTests,
    CheckFunctionTests,
    ExecutionRequest,
    Limits,
    StdioTests,
)

FAST = Limits(timeout_s=2.0)
ADD = "def add(a, b):\n    return a + b\n"


def run(program: str, tests, **kwargs):
    return execute(ExecutionRequest(program, tests, kwargs.pop("limits", FAST), **kwargs))


# --------------------------------------------------------------------------- check_function
def test_check_function_pass_and_fail():
    check = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
    assert run(ADD, CheckFunctionTests(check, "add")).status == "passed"
    wrong = run("def add(a, b):\n    return a - b\n", CheckFunctionTests(check, "add"))
    assert wrong.status == "failed"
    assert wrong.tests[0].detail == "expected 5, got -1"
    assert wrong.tests[0].duration_ms > 0


def test_check_function_missing_entry_point_and_syntax_error():
    check = "def check(candidate):\n    assert candidate(1, 1) == 2\n"
    assert run("def other():\n    pass\n", CheckFunctionTests(check, "add")).status == "error:NameError"
    broken = run("def add(a, b)\n    return a + b\n", CheckFunctionTests(check, "add"))
    assert broken.status == "syntax_error"
    assert "SyntaxError" in broken.tests[0].detail


def test_runtime_error_status_names_the_exception():
    result = run("def add(a, b):\n    return {}[a]\n", CheckFunctionTests("def check(c):\n    c(1, 2)\n", "add"))
    assert result.status == "error:KeyError"


# --------------------------------------------------------------------------- asserts
def test_asserts_each_is_a_test_and_setup_runs_after_the_candidate():
    program = "class Node:\n    def __init__(self, v):\n        self.v = v\ndef value(n):\n    return n.v\n"
    tests = AssertTests(
        ("assert value(root) == 1", "assert value(root) == 2", "assert sqrt(value(root)) == 1"),
        setup_code="root = Node(1)",  # uses a class the solution defines
        imports="from math import sqrt",
    )
    result = run(program, tests)
    assert [t.status for t in result.tests] == ["passed", "failed", "passed"]
    assert result.status == "failed"
    assert result.tests_passed == 2


def test_asserts_imports_run_before_the_candidate():
    program = "def area(r):\n    return math.pi * r * r\n"  # relies on the test imports
    result = run(program, AssertTests(("assert area(1) == math.pi",), imports="import math"))
    assert result.status == "passed"


# --------------------------------------------------------------------------- call
def test_call_outputs_mode_returns_outputs_in_input_order():
    program = "def f(x):\n    return [x, (x,), {x: {x}}, frozenset([x]), str(x), x / 2, 2 ** 100 * x, b'a' * x, complex(x, 1)]\n"
    result = run(program, CallTests("f", tuple((i,) for i in range(1, 6))))
    assert result.status == "passed"
    assert result.outputs[2] == [3, (3,), {3: {3}}, frozenset([3]), "3", 1.5, 2**100 * 3, b"aaa", complex(3, 1)]
    assert len(result.outputs) == 5


def test_call_outputs_mode_special_floats_and_unencodable_values():
    program = (
        "class Box:\n    pass\n"
        "def f(kind):\n"
        "    return {'nan': float('nan'), 'inf': float('-inf'), 'box': Box(), 'gen': (i for i in [])}[kind]\n"
    )
    result = run(program, CallTests("f", (("nan",), ("inf",), ("box",), ("gen",))))
    assert math.isnan(result.outputs[0]) and result.outputs[1] == -math.inf
    assert result.outputs[2] is None and result.tests[2].status == "error:UnencodableOutput"
    assert "Box" in result.tests[2].detail
    assert result.tests[3].status == "error:UnencodableOutput"


def test_call_compares_in_the_parent_with_atol_recursively():
    program = "def f(x):\n    return [x + 1e-7, (x, x + 3e-7)]\n"
    tests = CallTests("f", ((1.0,),), expected=([1.0, (1.0, 1.0)],), atol=1e-6)
    assert run(program, tests).status == "passed"
    strict = CallTests("f", ((1.0,),), expected=([1.0, (1.0, 1.0)],), atol=1e-9)
    failed = run(program, strict)
    assert failed.status == "failed" and "expected" in failed.tests[0].detail


def test_call_float_expected_defaults_to_1e6_tolerance_like_evalplus():
    program = "def f():\n    return 0.1 + 0.2\n"
    assert run(program, CallTests("f", ((),), expected=(0.3,))).status == "passed"
    assert run(program, CallTests("f", ((),), expected=(0.31,))).status == "failed"


def test_call_polynomial_root_comparison():
    program = "def find_zero(xs):\n    return 1.0\n"  # root of x - 1 and of x^2 - 1
    passing = CallTests("find_zero", (([-1, 1],), ([-1, 0, 1],)), expected=(None, None), comparison="polynomial_root")
    assert run(program, passing).status == "passed"
    failing = CallTests("find_zero", (([2, 1],),), expected=(None,), comparison="polynomial_root", atol=1e-4)
    assert run(program, failing).status == "failed"


def test_call_inputs_are_fresh_per_call():
    program = "def f(xs):\n    xs.append(1)\n    return len(xs)\n"
    result = run(program, CallTests("f", (([],), ([],)), expected=(1, 1)))
    assert result.status == "passed"


def test_call_outputs_mode_resumes_after_a_timeout():
    program = "def f(x):\n    while x == 1:\n        pass\n    return x\n"
    result = run(program, CallTests("f", ((0,), (1,), (2,))), time_limits_s=(1.0, 0.3, 1.0))
    assert [t.status for t in result.tests] == ["passed", "timeout", "passed"]
    assert result.outputs == (0, None, 2)
    assert result.status == "timeout"


def test_call_outputs_mode_can_stop_at_a_timeout_instead():
    program = "def f(x):\n    while x == 1:\n        pass\n    return x\n"
    tests = CallTests("f", ((0,), (1,), (2,), (3,)))
    result = execute(ExecutionRequest(program, tests, Limits(timeout_s=0.3), resume_after_timeout=False))
    assert [t.status for t in result.tests] == ["passed", "timeout", "no_result", "no_result"]
    assert result.outputs == (0, None, None, None)
    # A crash is not a timeout: the run resumes after it.
    crashing = "def f(x):\n    if x == 1:\n        raise SystemExit(3)\n    return x\n"
    result = execute(ExecutionRequest(crashing, tests, Limits(timeout_s=1.0), resume_after_timeout=False))
    assert [t.status for t in result.tests][2:] == ["passed", "passed"]


def test_comparison_mode_stops_after_a_timeout():
    program = "def f(x):\n    while x == 1:\n        pass\n    return x\n"
    result = run(program, CallTests("f", ((0,), (1,), (2,)), expected=(0, 1, 2)), time_limits_s=(1.0, 0.3, 1.0))
    assert [t.status for t in result.tests] == ["passed", "timeout", "no_result"]


def test_mismatched_expected_and_time_limits_are_caller_errors():
    with pytest.raises(ValueError):
        run(ADD, CallTests("add", ((1, 2),), expected=(3, 4)))
    with pytest.raises(ValueError):
        run(ADD, CallTests("add", ((1, 2),), expected=(3,)), time_limits_s=(1.0, 1.0))


# --------------------------------------------------------------------------- stdio
def test_stdio_whitespace_tolerant_comparison_and_stdin_per_case():
    program = "import sys\nn = int(sys.stdin.readline())\nnums = list(map(int, input().split()))\nprint(sum(nums) * n, '  ')\nprint()\n"
    tests = StdioTests((("2\n1 2 3\n", "12\n"), ("1\n5\n", "  5  \n\n"), ("1\n5\n", "6\n")))
    result = run(program, tests)
    assert [t.status for t in result.tests] == ["passed", "passed", "failed"]


def test_stdio_buffer_and_fd_level_io():
    program = "import sys, os\ndata = sys.stdin.buffer.read()\nsys.stdout.buffer.write(data.upper())\nsys.stdout.flush()\nos.write(1, b'!')\n"
    assert run(program, StdioTests((("abc", "ABC!"),))).status == "passed"


def test_stdio_exit_codes():
    assert run("print(1)\nexit(0)\n", StdioTests((("", "1"),))).status == "passed"
    assert run("print(1)\nraise SystemExit(3)\n", StdioTests((("", "1"),))).status == "error:SystemExit"


def test_installed_libraries_import_but_site_hooks_do_not_run():
    """The child runs with -S: site-packages is on sys.path, but no .pth hook was executed."""
    program = (
        "import sys, psutil\n"  # installed with patflow (a dependency of the sandbox itself)
        "def probe():\n"
        "    hooks = sorted(m for m in sys.modules if m.startswith(('__editable__', '_distutils_hack')))\n"
        "    return [psutil.__name__, hooks, callable(exit), callable(quit)]\n"
    )
    result = run(program, CallTests("probe", ((),)))
    assert result.status == "passed", result.tests
    assert result.outputs == (["psutil", [], True, True],)


def test_working_directory_is_private_and_starts_empty_for_every_job():
    """Working directories are reused across jobs: each starts empty and none sees another's."""
    writer = (
        "import os, time\n"
        "def f(tag):\n"
        "    os.mkdir('sub'); open('sub/deep', 'w').write(tag); open('secret-' + tag, 'w').write(tag)\n"
        "    time.sleep(0.4)\n"
        "    return sorted(os.listdir('.'))\n"
    )
    snooper = (
        "import os, time\n"
        "def f():\n"
        "    time.sleep(0.15)\n"
        "    mine, found = os.getcwd(), []\n"
        "    root = os.path.dirname(mine)  # the other jobs' directories\n"
        "    for name in os.listdir(root):\n"
        "        path = os.path.join(root, name)\n"
        "        try:\n"
        "            found += [path] if path != mine and os.listdir(path) else []\n"
        "        except OSError:\n"
        "            pass\n"
        "    return [os.environ['HOME'] == mine, sorted(os.listdir('.')), found]\n"
    )
    with ThreadPoolExecutor(3) as pool:
        writers = [pool.submit(run, writer, CallTests("f", ((tag,),))) for tag in ("a", "b")]
        snooped = pool.submit(run, snooper, CallTests("f", ((),)))
        results = [w.result() for w in writers]
    assert [r.outputs for r in results] == [(["secret-a", "sub"],), (["secret-b", "sub"],)]
    assert snooped.result().outputs == ([True, [], []],)
    # Later jobs get the same directories back, wiped.
    later = [run(snooper, CallTests("f", ((),))) for _ in range(3)]
    assert [r.outputs for r in later] == [([True, [], []],)] * 3


# --------------------------------------------------------------------------- taxonomy
def test_no_tests_is_its_own_status():
    result = run(ADD, AssertTests(()))
    assert result.status == "no_tests" and not result.passed


def test_first_non_pass_is_the_sample_status():
    result = run(ADD, AssertTests(("assert add(1, 1) == 2", "assert add(1, 1) == 3", "add(None, 1)")))
    assert [t.status for t in result.tests] == ["passed", "failed", "error:TypeError"]
    assert result.status == "failed"


def test_per_test_time_limits():
    program = "import time\ndef nap(s):\n    time.sleep(s)\n    return s\n"
    tests = AssertTests(("assert nap(0.01) == 0.01", "assert nap(0.6) == 0.6"))
    result = run(program, tests, time_limits_s=(1.0, 0.2))
    assert [t.status for t in result.tests] == ["passed", "timeout"]


# --------------------------------------------------------------------------- reward hacks
def test_solution_class_overriding_eq_is_rejected_everywhere():
    program = "class Anything:\n    def __eq__(self, other):\n        return True\ndef f():\n    return Anything()\n"
    check = run(program, CheckFunctionTests("def check(c):\n    assert c() == 42\n", "f"))
    # The object stays in the candidate's process; the judge holds an opaque handle to it.
    assert check.status == "failed" and "from the candidate's process" in check.tests[0].detail
    # Its truth is the candidate's to say (as returning True would be): a truth test hides nothing.
    asserts = run(program, AssertTests(("assert f() == 42", "assert 42 == f()", "assert f()")))
    assert [t.status for t in asserts.tests] == ["failed", "failed", "passed"]
    call = run(program, CallTests("f", ((),), expected=(42,)))
    assert call.status == "error:UnencodableOutput"


def test_plain_subclasses_still_compare_as_their_base():
    program = "from collections import namedtuple, OrderedDict\nP = namedtuple('P', 'x y')\ndef f():\n    return [P(1, 2), OrderedDict(a=1)]\n"
    result = run(program, CallTests("f", ((),), expected=([(1, 2), {"a": 1}],)))
    assert result.status == "passed"


def test_builtins_and_exception_tampering_never_reaches_the_tests():
    # The program patches its own process; the tests run in the judge's, with its own builtins.
    patched_len = "import builtins\nbuiltins.len = lambda x: 3\ndef f():\n    return [1]\n"
    # (a patched builtin may also break the program's own request loop: never a pass either)
    assert run(patched_len, AssertTests(("assert len(f()) == 3",))).status in ("failed", "no_result")
    patched_error = "import builtins\nclass E(Exception):\n    pass\nbuiltins.AssertionError = E\ndef f():\n    return 0\n"
    assert run(patched_error, AssertTests(("assert f() == 1",))).status == "failed"
    patched_math = "import math\nmath.isclose = lambda *a, **k: True\ndef f():\n    return 0\n"
    assert run(patched_math, AssertTests(("assert math.isclose(f(), 1)",), imports="import math")).status == "failed"
    # ... and a program that defines a builtin's name does not replace it in the tests.
    shadow = "def len(x):\n    return 3\ndef f():\n    return [1]\n"
    assert run(shadow, AssertTests(("assert len(f()) == 3",))).status == "failed"
    # The call format's outputs are compared in the parent; tampering there is still named.
    tampered_call = run(patched_len, CallTests("f", ((),), expected=([1],)))
    assert tampered_call.status == "failed" and tampered_call.tests[0].detail.startswith("reward hack")


FRAME_PEEK = """
import sys
def f():
    frame = sys._getframe(1)
    found = []
    while frame is not None:
        found += [c for c in frame.f_code.co_consts if isinstance(c, int) and c > 1000]
        found += [v for v in frame.f_locals.values() if isinstance(v, int) and v > 1000]
        frame = frame.f_back
    return found[0] if found else -1
"""


def test_frame_peeking_cannot_find_expected_values_in_call_tests():
    result = run(FRAME_PEEK, CallTests("f", ((),), expected=(987654321,)))
    assert result.status == "failed"


def test_frame_peeking_in_check_functions_finds_nothing():
    # The check function runs in the judge: the candidate's frames are its own request loop.
    result = run(FRAME_PEEK, CheckFunctionTests("def check(c):\n    assert c() == 987654321\n", "f"))
    assert result.status == "failed"


# --------------------------------------------------------------------------- concurrency
def test_many_threads_at_once_get_their_own_verdicts():
    def one(i: int):
        program = f"def f(x):\n    return x * {i}\n"
        return run(program, CallTests("f", ((2,),), expected=(2 * i,))).status, i

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(48)))
    assert all(status == "passed" for status, _ in results), results


def test_fork_server_restarts_after_it_dies():
    assert run(ADD, AssertTests(("assert add(1, 2) == 3",))).passed
    server = launch._server
    if server is None:
        pytest.skip("no fork server in this configuration")
    server.process.kill()
    server.process.wait()
    assert run(ADD, AssertTests(("assert add(1, 2) == 3",))).passed
    assert launch._server is not server


def test_environment_never_reaches_the_child(monkeypatch):
    monkeypatch.setenv("PATFLOW_TEST_API_KEY", "sk-should-not-leak")
    launch._shutdown_server()  # a new server is started with this variable set
    program = "import os\ndef f():\n    return sorted(os.environ)\n"
    result = run(program, CallTests("f", ((),)))
    assert result.outputs[0] == ["HOME", "LANG", "PATH", "TMPDIR"]


def test_roots_home_shows_only_the_interpreter_and_site_packages():
    kept = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, *site.getsitepackages())}
    visible = {p.split("/")[2] for p in kept if p.startswith("/root/")}  # first component under /root
    program = "import os\ndef f():\n    return sorted(os.listdir('/root')) if os.path.isdir('/root') else []\n"
    listed = run(program, CallTests("f", ((),))).outputs[0]
    assert set(listed) <= visible, f"/root shows more than the interpreter: {listed}"


def test_jobs_can_never_gain_privileges_through_execve():
    program = (
        "def f():\n"
        "    status = open('/proc/self/status').read().splitlines()\n"
        "    return [line.split()[1] for line in status if line.startswith('NoNewPrivs')]\n"
    )
    assert run(program, CallTests("f", ((),))).outputs == (["1"],)


# --------------------------------------------------------------------------- real data
def test_every_humaneval_canonical_solution_passes_and_return_none_fails(shared_datasets):
    with gzip.open(shared_datasets / "humaneval" / "HumanEval.jsonl.gz", "rt") as handle:
        problems = [json.loads(line) for line in handle]
    limits = Limits(timeout_s=20.0)

    def verdicts(body_of):
        with ThreadPoolExecutor(4) as pool:
            return list(
                pool.map(
                    lambda p: execute(
                        ExecutionRequest(p["prompt"] + body_of(p), CheckFunctionTests(p["test"], p["entry_point"]), limits)
                    ),
                    problems,
                )
            )

    canonical = verdicts(lambda p: p["canonical_solution"])
    assert [p["task_id"] for p, r in zip(problems, canonical) if not r.passed] == []
    wrong = verdicts(lambda p: "    return None\n")
    assert [p["task_id"] for p, r in zip(problems, wrong) if r.passed] == []




def test_stop_on_first_failure_keeps_the_sample_status():
    program = "def f(x):\n    return x if x != 2 else -1\n"
    tests = CallTests("f", tuple((i,) for i in range(200)), expected=tuple(range(200)))
    full = run(program, tests)
    fast = execute(ExecutionRequest(program, tests, FAST, stop_on_first_failure=True))
    assert full.status == fast.status == "failed"
    assert full.tests_passed == 199
    assert fast.tests[2].status == "failed" and fast.tests_passed <= 199
    assert all(t.status in ("passed", "no_result") for t in fast.tests[3:])
    asserts = AssertTests(("assert f(0) == 0", "assert f(2) == 2", "assert f(3) == 3"))
    stopped = execute(ExecutionRequest(program, asserts, FAST, stop_on_first_failure=True))
    assert [t.status for t in stopped.tests] == ["passed", "failed", "no_result"]


def test_large_outputs_cross_as_digests_and_compare_like_python_equality():
    program = "def f(n, flip):\n    out = {i: list(range(i % 7)) for i in range(n)}\n    if flip:\n        out[3] = None\n    return out, set(range(n)), True\n"
    expected = ({i: list(range(i % 7)) for i in range(20000)}, set(range(20000)), 1)
    tests = CallTests("f", ((20000, False), (20000, True)), expected=(expected, expected))
    result = run(program, tests, limits=Limits(timeout_s=10.0))
    assert [t.status for t in result.tests] == ["passed", "failed"]
    assert "BLAKE2b digest" in result.tests[1].detail
    outputs = run(program, CallTests("f", ((20000, False),)), limits=Limits(timeout_s=10.0))
    assert outputs.outputs[0] == (expected[0], expected[1], True)  # outputs mode gets values, not digests


# --------------------------------------------------------------------------- the judge
def test_judged_calls_carry_plain_data_and_mutations_back():
    program = (
        "def f(xs):\n    xs.sort()\n    xs.append(99)\n"
        "def g(d, s):\n    d['k'] = 1\n    s.add(3)\n    return (len(d), len(s))\n"
    )
    tests = AssertTests(
        (
            "xs = [3, 1, 2]\nf(xs)\nassert xs == [1, 2, 3, 99]",
            "d, s = {}, set()\nassert g(d, s) == (1, 1) and d == {'k': 1} and s == {3}",
            "assert f([2, 1]) is None",
        )
    )
    assert [t.status for t in run(program, tests).tests] == ["passed", "passed", "passed"]


def test_objects_of_the_program_stay_in_its_process_as_handles():
    # MBPP 927's shape: setup code builds a tree of the solution's Node class; MBPP 601's:
    # the asserts construct the solution's Pair class themselves.
    program = (
        "class Node:\n    def __init__(self, data):\n        self.data, self.left = data, None\n"
        "def height(node):\n    return 0 if node is None else 1 + height(node.left)\n"
        "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
        "def longest(pairs, n):\n    return max(p.b - p.a for p in pairs[:n])\n"
        "def gen(n):\n    return (i * i for i in range(n))\n"
    )
    tests = AssertTests(
        (
            "assert height(root) == 2",
            "assert height(Node(7)) == 1 and root.data == 1 and root.left.data == 2",
            "assert longest([Pair(1, 5), Pair(2, 3)], 2) == 4",
            "assert list(gen(4)) == [0, 1, 4, 9]",
            "assert height(root) == height(root.left) + 1",
        ),
        setup_code="root = Node(1)\nroot.left = Node(2)\n",
    )
    assert [t.status for t in run(program, tests).tests] == ["passed"] * 5
    shown = "class P:\n    def __str__(self):\n        return 'P!'\n    def __len__(self):\n        return 0\ndef f():\n    return P()\n"
    tests = AssertTests(("assert str(f()) == 'P!'", "assert len(f()) == 0", "assert not f()", "assert f()"), entry_point="f")
    assert [t.status for t in run(shown, tests).tests] == ["passed", "passed", "passed", "failed"]
    # MBPP 737/794's shape: a re.Match returned for a truth test.
    matcher = "import re\ndef f(s):\n    return re.match('a', s)\n"
    tests = AssertTests(("assert f('abc')", "assert not f('xyz')", "assert f('abc') == True"), entry_point="f")
    assert [t.status for t in run(matcher, tests).tests] == ["passed", "passed", "failed"]


def test_exceptions_cross_by_name_and_tests_can_expect_them():
    program = "class Oops(Exception):\n    pass\ndef f(x):\n    if x < 0:\n        raise ValueError('negative')\n    raise Oops('mine')\n"
    tests = CheckFunctionTests(
        "def check(candidate):\n"
        "    try:\n        candidate(-1)\n        assert False\n    except ValueError as error:\n        assert 'negative' in str(error)\n"
        "    candidate(1)\n",
        "f",
    )
    result = run(program, tests)
    assert result.status == "error:Oops" and "mine" in result.tests[0].detail


def test_trusted_helpers_win_over_the_programs_and_a_builtin_named_entry_point_is_the_programs():
    program = "def poly(xs, x):\n    return 0\ndef root(xs):\n    return 5.0\n"
    check = "def check(candidate):\n    assert abs(poly([1.0, -2.0], candidate([1.0, -2.0]))) < 1e-9\n"
    helpers = "def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\n"
    assert run(program, CheckFunctionTests(check, "root")).status == "passed"  # the program's poly: forgeable
    assert run(program, CheckFunctionTests(check, "root", helpers=helpers)).status == "failed"
    shadowing = "def sum(a, b):\n    return a - b\n"
    assert run(shadowing, AssertTests(("assert sum(5, 3) == 2",), entry_point="sum")).status == "passed"
    assert run(shadowing, AssertTests(("assert sum([5, 3]) == 8",))).status == "passed"  # the builtin
