"""tasks.preamble: imports=none|standard, applied where programs reach the sandbox (real runs)."""

from __future__ import annotations

import builtins
import functools

import pytest

from sandbox.types import AssertTests, CallTests
from tasks.preamble import (
    DEFAULT_IMPORTS,
    IMPORT_MODES,
    STANDARD_MODULES,
    STANDARD_NAMES,
    STANDARD_PREAMBLE,
    check_imports_mode,
    preamble_text,
    with_preamble,
)
from tasks.records import (
    BenchmarkSelection, DatasetInfo, HiddenSuite, ModelConfig, ModelConfiguration, Problem, RunConfig,
)  # fmt: skip
from tasks.scoring import score_program
from tasks.verification import verify

USES_MATH = "def hypotenuse(a, b):\n    return math.sqrt(a * a + b * b)\n"
HYPOTENUSE = CallTests("hypotenuse", ((3, 4),), (5.0,))


def test_the_default_is_none_and_none_runs_the_program_as_written():
    assert DEFAULT_IMPORTS == "none" and IMPORT_MODES == ("none", "standard")
    assert with_preamble(USES_MATH, "none") is USES_MATH
    assert preamble_text("none") == ""


def test_math_without_import_fails_under_none_and_passes_under_standard():
    unimported = verify(USES_MATH, HYPOTENUSE)
    assert unimported.status == "error:NameError" and "math" in unimported.first_failure
    assert verify(USES_MATH, HYPOTENUSE, imports="standard").passed
    # the same program with its import passes either way: the preamble adds, never removes
    assert verify("import math\n" + USES_MATH, HYPOTENUSE, imports="none").passed


def test_the_mode_reaches_scoring_through_the_injected_verify():
    problem = Problem(
        task_id="t/1", prompt="", entry_point="hypotenuse", public_tests=None,
        hidden_suites=(HiddenSuite("base", HYPOTENUSE),), reference_solution=None,
        test_format="call", dataset=DatasetInfo("tiny", "1", "0" * 64),
    )
    assert not score_program(USES_MATH, problem, verify).passed
    assert score_program(USES_MATH, problem, functools.partial(verify, imports="standard")).passed


def test_mbpp_style_asserts_on_a_solution_using_re_unimported():
    program = "def has_digit(s):\n    return re.search(r'\\d', s) is not None\n"
    tests = AssertTests(("assert has_digit('a1')", "assert not has_digit('ab')"))
    assert verify(program, tests).status == "error:NameError"
    assert verify(program, tests, imports="standard").passed


def test_the_preamble_is_one_line_so_program_lines_move_by_exactly_one():
    assert STANDARD_PREAMBLE.count("\n") == 1 and STANDARD_PREAMBLE.endswith("\n")
    program = "x = 1\ny = 2\nraise ValueError(y)\n"
    lines = with_preamble(program, "standard").splitlines()
    assert lines[0] == STANDARD_PREAMBLE.rstrip("\n")
    assert lines[1:] == program.splitlines()


def test_future_imports_stay_first_and_the_docstring_stays_the_docstring():
    program = '"""doc"""\nfrom __future__ import annotations\n\ndef f(x: int) -> float:\n    return math.sqrt(x)\n\n' \
        "def g():\n    return __doc__\n"
    prepared = with_preamble(program, "standard")
    assert prepared.splitlines()[:3] == ['"""doc"""', "from __future__ import annotations", STANDARD_PREAMBLE.rstrip()]
    assert verify(program, CallTests("f", ((9,),), (3.0,)), imports="standard").passed
    assert verify(program, CallTests("g", ((),), ("doc",)), imports="standard").passed


def test_a_syntax_error_stays_a_syntax_error():
    verdicts = [verify("def f(:\n    pass\n", CallTests("f", ((),), (None,)), imports=mode) for mode in IMPORT_MODES]
    assert {v.status for v in verdicts} == {"syntax_error"} and not any(v.passed for v in verdicts)


def test_the_standard_set_binds_what_it_documents_and_shadows_no_builtin():
    namespace: dict = {}
    exec(compile(STANDARD_PREAMBLE, "<preamble>", "exec"), namespace)  # noqa: S102 - our own constant
    bound = set(namespace) - {"__builtins__"}
    documented = set(STANDARD_MODULES) | {name for names in STANDARD_NAMES.values() for name in names}
    assert bound == documented
    assert not bound & set(dir(builtins))
    assert "numpy" not in bound and "np" not in bound  # not a patflow dependency: see tasks/preamble.py


def test_a_programs_own_definition_wins_over_a_preamble_name():
    program = "def reduce(values):\n    return sum(values)\n"
    assert verify(program, CallTests("reduce", (([1, 2, 3],),), (6,)), imports="standard").passed


def test_unknown_modes_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="expected one of: none, standard"):
        check_imports_mode("numpy")
    with pytest.raises(ValueError, match="unknown imports mode"):
        verify(USES_MATH, HYPOTENUSE, imports="all")


def run_config(imports: str = "none") -> RunConfig:
    model = ModelConfig("sim/small")
    return RunConfig(
        run_id="r",
        benchmarks=(BenchmarkSelection("mbpp", imports=imports),),
        policies=(),
        configurations=(ModelConfiguration("m", model, model),),
    )


def test_the_run_config_carries_the_mode_and_hashes_it():
    assert run_config().benchmarks[0].imports == "none"
    assert run_config("standard").config_sha256() != run_config().config_sha256()
    with pytest.raises(ValueError, match="unknown imports mode"):
        check_imports_mode("some")
