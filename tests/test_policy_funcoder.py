"""funcoder transitions with scripted answers: divide first, conquer bottom-up, functional
consensus picks the hand-computed winner at each node; depth and call budgets hold."""

from __future__ import annotations

from policy_steps import CRASH, LOOP, Steps, by_program, code, outputs_by_program
from tasks.policies.engine import PLANNER, Execute, Generate, Verify
from tasks.policies.funcoder import FunCoder
from tasks.records import PolicySpec

ROOT_DIVIDE = '''Plan: the work is g.

```python
def f(x):
    """Return x + 1."""
    return g(x) + 1  # FD


def g(x):
    """Return x unchanged."""
    raise NotImplementedError()
```
'''
G_DIVIDE = '```python\ndef g(x):\n    """Return x unchanged."""\n    return x  # GD\n```'


def policy(**params) -> FunCoder:
    return FunCoder(PolicySpec("funcoder", tuple(sorted(params.items()))))


def execute_by_target(tables):
    def execute(action: Execute):
        return outputs_by_program(tables[action.tests.entry_point])(action)

    return execute


def test_divide_then_conquer_bottom_up_with_consensus_at_every_node():
    steps = Steps(
        answers={
            "divide": [(ROOT_DIVIDE,), (G_DIVIDE,)],
            "conquer": [
                (code("return x  # G0", "g"), code("return x  # G1", "g"), code("return 0  # G2", "g")),
                (code("return g(x) + 1  # F0"), code("return x + 1  # F1"), code("return x + 4  # F2")),
            ],
            "write_tests": [("```python\ng(1)\ng(2)\n```",), ("```python\nassert f(1) == 2\nf(3)\n```",)],
        },
        execute=execute_by_target({
            # g on inputs 1, 2:  input 1: GD, G0, G1 agree on 1 (+2 each), G2 alone (0);
            #                    input 2: GD and G2 agree on 2 (+1 each), G0 alone, G1 crashed (-100).
            #   GD 3, G0 2, G1 -98, G2 1  ->  GD (the divide output) wins.
            "g": {"# GD": (1, 2), "# G0": (1, 5), "# G1": (1, CRASH), "# G2": (0, 2)},
            # f on input 3: FD, F0, F1 agree on 4 (+2 each), F2 alone (0).
            "f": {"# FD": (4,), "# F0": (4,), "# F1": (4,), "# F2": (7,)},
        }),
        # The root's unit test (the docstring example): FD and F0 fail it (-10000 each).
        #   FD 2 - 10000, F0 2 - 10000, F1 2, F2 0  ->  F1 wins.
        verify=by_program({"# FD": ("failed",), "# F0": ("failed",), "# F1": ("passed",), "# F2": ("passed",)}),
    )
    submit = steps.run(policy(n=3, min_samples=1, planner="sim/large"))
    assert steps.kinds() == ["divide", "divide", "conquer", "write_tests", "conquer", "write_tests"]
    divides = [a for a in steps.of(Generate) if a.kind == "divide"]
    assert all(a.role == PLANNER and a.temperature == 0.2 and a.n == 1 for a in divides)
    assert [(a.node.node_id, a.node.parent_node_id, a.node.depth) for a in divides] == [
        ("root", None, 0), ("root.0", "root", 1)]
    conquers = [a for a in steps.of(Generate) if a.kind == "conquer"]
    assert all(a.temperature == 0.8 and a.n == 3 for a in conquers)
    assert "return x  # GD" in conquers[1].messages[-1][1]  # the root is conquered on g's winner
    executes = steps.of(Execute)
    assert len(executes[0].programs) == 4 and executes[0].tests.inputs == ((1,), (2,))
    assert all("# GD" in program for program in executes[1].programs)
    [unit] = steps.of(Verify)
    assert unit.tests.asserts == ("assert f(1) == 2",) and unit.test_source == "generated"
    assert "# F1" in submit.program and "# GD" in submit.program and "raise NotImplementedError" not in submit.program
    assert (submit.nodes, submit.max_depth, submit.decompositions) == (2, 1, 1)
    assert (submit.selected_on, submit.selected_tests_total, submit.selected_tests_passed) == ("generated", 1, 1)


def test_one_model_by_default_the_generator_divides_too():
    steps = Steps(answers={"divide": [(code("return x + 1  # FD"),)], "conquer": [("no code",)]})
    submit = steps.run(policy(n=1, conquer_calls=1))
    assert [(a.kind, a.role) for a in steps.of(Generate)] == [("divide", "generator"), ("conquer", "generator")]
    assert "# FD" in submit.program


def test_a_node_at_the_last_depth_is_conquered_without_dividing():
    steps = Steps(
        answers={
            "divide": [(ROOT_DIVIDE,)],
            "conquer": [(code("return x  # G0", "g"),), ("no code",)],
        },
    )
    submit = steps.run(policy(max_depth=2, n=1, min_samples=1, conquer_calls=1))
    # g (depth 1 = max_depth - 1) is not divided; each node has one candidate: no tests needed.
    assert steps.kinds() == ["divide", "conquer", "conquer"]
    assert "# G0" in submit.program and "# FD" in submit.program
    assert submit.accepted_unverified


def chain_divide(depth: int) -> str:
    name, helper = ("f" if depth == 0 else f"h{depth}"), f"h{depth + 1}"
    return (f"```python\ndef {name}(x):\n    return {helper}(x)  # D{depth}\n\n\n"
            f"def {helper}(x):\n    \"\"\"Step {depth + 1}.\"\"\"\n    raise NotImplementedError()\n```")


def test_dividing_stops_at_depth_six():
    steps = Steps(
        answers={
            "divide": [(chain_divide(d),) for d in range(5)],  # depths 0..4 divide
            # conquer is answered bottom-up: h5 (depth 5, never divided) first, then h4 ... f.
            "conquer": [(code("return x  # LEAF", "h5"),)] + [("no code",)] * 5,
        },
    )
    submit = steps.run(policy(n=1, min_samples=1, conquer_calls=1))
    divides = [a for a in steps.of(Generate) if a.kind == "divide"]
    assert [a.node.depth for a in divides] == [0, 1, 2, 3, 4]
    assert submit.max_depth == 5 and submit.nodes == 6 and submit.decompositions == 5
    assert "# LEAF" in submit.program and all(f"# D{d}" in submit.program for d in range(5))


def test_an_unparseable_divide_is_asked_three_times_then_the_node_is_a_leaf():
    steps = Steps(
        answers={"divide": [("no idea",)] * 3, "conquer": [(code("return x + 1  # F0"),)]},
    )
    submit = steps.run(policy(n=1, min_samples=1))
    assert steps.kinds() == ["divide"] * 3 + ["conquer"]
    assert [a.node.attempt for a in steps.of(Generate)][:3] == [0, 1, 2]
    assert "# F0" in submit.program and submit.nodes == 1 and submit.decompositions == 0


def test_public_unit_tests_at_the_root_use_write_calls_for_the_inputs():
    steps = Steps(
        answers={
            "divide": [(code("return x + 1  # FD"),)],
            "conquer": [(code("return x + 1  # F0"), code("return x  # F1"))],
            "write_tests": [("```python\nf(3)\nf(4)\n```",)],
        },
        execute=outputs_by_program({"# FD": (4, 5), "# F0": (4, 5), "# F1": (3, 4)}),
        verify=by_program({"# FD": ("passed", "passed"), "# F0": ("passed", "passed"), "# F1": ("failed", "failed")}),
    )
    submit = steps.run(policy(n=2, min_samples=1, tests="public"))
    [write] = [a for a in steps.of(Generate) if a.kind == "write_tests"]
    assert "calls" in write.messages[0][1]  # the write_calls template, not write_tests
    [unit] = steps.of(Verify)
    assert unit.test_source == "public"
    # FD and F0 agree on both inputs (+1 +1 = 2 each), F1 alone (0) and fails the unit tests.
    # FD and F0 tie at 2: the seeded tie-break picks one of them.
    assert "# F1" not in submit.program and submit.selected_on == "public"


def test_a_helper_stub_repeated_by_a_sibling_never_replaces_the_implementation():
    root = ('```python\ndef f(x):\n    return a(b(x))  # FD\n\n\ndef b(x):\n    """Add one."""\n'
            '    raise NotImplementedError()\n\n\ndef a(x):\n    """Double."""\n    raise NotImplementedError()\n```')
    b_impl = '```python\ndef b(x):\n    """Add one."""\n    return x + 1  # BD\n```'
    # a's answer repeats b's stub after its own implementation (models do this).
    a_impl = ('```python\ndef a(x):\n    """Double."""\n    return 2 * x  # AD\n\n\n'
              'def b(x):\n    """Add one."""\n    raise NotImplementedError()\n```')
    steps = Steps(answers={"divide": [(root,), (b_impl,), (a_impl,)],
                           "conquer": [("no code",), ("no code",), ("no code",)]})
    submit = steps.run(policy(n=1, conquer_calls=1))
    assert [a.target for a in steps.of(Generate) if a.kind == "divide"] == ["f", "b", "a"]
    assert "# BD" in submit.program and "# AD" in submit.program
    assert "NotImplementedError" not in submit.program


def test_functions_the_prompt_implements_are_kept_and_never_become_nodes():
    from dataclasses import replace as with_fields

    from policy_steps import PROBLEM

    prompt = ('def twice(x):\n    """Double."""\n    return 2 * x\n\n\n'
              'def f(x):\n    """Return twice(x) + 1."""\n')
    problem = with_fields(PROBLEM, prompt=prompt)
    divided = ('```python\ndef f(x):\n    """Return twice(x) + 1."""\n    return twice(x) + 1  # FD\n\n\n'
               'def twice(x):\n    """Double."""\n    raise NotImplementedError()\n```')
    steps = Steps(answers={"divide": [(divided,)], "conquer": [("no code",)]})
    submit = steps.run(policy(n=1, conquer_calls=1), problem=problem)
    assert steps.kinds() == ["divide", "conquer"] and submit.nodes == 1
    assert "return 2 * x" in submit.program and "NotImplementedError" not in submit.program


def test_consensus_stops_a_looping_candidate_and_unit_tests_only_candidates_that_can_win():
    # Three candidates on three inputs; F2 loops on input 0 (so inputs 1 and 2 are not run).
    #   F0, F1 agree on 2, 3, 4: +1 each per input = 3 each (at most +1 more per input from
    #   F2's unknown outputs). F2: -100, at most +2 on each unknown input -> at most -96.
    steps = Steps(
        answers={
            "divide": [(code("return x + 1  # FD"),)],
            "conquer": [(code("return x + 1  # F0"), code("return x + 1  # F1"), code("while True: pass  # F2"))],
            "write_tests": [("```python\nassert f(0) == 1\nf(1)\nf(2)\nf(3)\n```",)],
        },
        execute=outputs_by_program({"# FD": (2, 3, 4), "# F0": (2, 3, 4), "# F1": (2, 3, 4), "# F2": (LOOP, 9, 9)}),
        verify=by_program({"# FD": ("passed",), "# F0": ("passed",), "# F1": ("passed",)}),
    )
    submit = steps.run(policy(n=3, min_samples=1))
    [execute] = steps.of(Execute)  # no second run of F2's inputs 1 and 2
    assert execute.stop_at_timeout and len(execute.programs) == 4
    [unit] = steps.of(Verify)  # F2 (candidate 3, the divide output is 0) is never unit-tested
    assert unit.sample_indices == (0, 1, 2) and not any("# F2" in p for p in unit.programs)
    assert "# F2" not in submit.program and submit.selected_tests_passed == 1


def test_a_looping_candidate_that_could_break_a_tie_runs_its_remaining_inputs():
    # F0 and F1 differ on input 1 only; F2 loops on input 0, and its output on input 1 would
    # agree with one of them: the tie is open until F2's input 1 runs. It returns 5, as F1.
    steps = Steps(
        answers={
            "divide": [("no code",)] * 3,
            "conquer": [(code("return x  # F0"), code("return x + 1  # F1"), code("return 0  # F2"))],
            "write_tests": [("```python\nf(0)\nf(4)\n```",)],
        },
        execute=outputs_by_program({"# F0": (0, 4), "# F1": (0, 5), "# F2": (LOOP, 5)}),
    )
    # The written tests are calls only: no unit tests at all.
    submit = steps.run(policy(n=3, min_samples=1))
    first, resumed = steps.of(Execute)
    assert first.stop_at_timeout and resumed.stop_at_timeout
    assert resumed.sample_indices == (2,) and resumed.tests.inputs == ((4,),)
    # F0 1 + 0, F1 1 + 1 (F2 agrees on 5), F2 -100 + 1: F1 wins.
    assert "# F1" in submit.program
