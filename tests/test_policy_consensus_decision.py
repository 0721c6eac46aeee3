"""FunCoder's consensus decided from partial results (``tasks.policies.consensus_decision``):
hand-computed cases, and an oracle check that the lazy decision always picks the winner the full
evaluation (``selection.functional_consensus``) picks, tie-break included."""

from __future__ import annotations

import random

import pytest

from tasks.policies.consensus_decision import UNKNOWN, Decided, ResumeInputs, VerifyUnits, decide
from tasks.policies.selection import functional_consensus


def test_a_candidate_that_timed_out_far_below_the_top_is_neither_resumed_nor_unit_tested():
    # Four candidates, three inputs. D timed out on input 0 (None) and ran nothing after it.
    #   A, B, C return 1, 2, 3 -> +2 each per input = 6 each, exact (D's unknown cells could
    #   add at most +1 per input: A/B/C lie in [6, 8]).
    #   D: -100 on input 0, at most +3 on each unknown input -> at most -94.
    rows = [["1", "2", "3"], ["1", "2", "3"], ["1", "2", "3"], [None, UNKNOWN, UNKNOWN]]
    first = decide(rows, [None] * 4, tie_break_seed=1)
    # D's best (-94) is below A/B/C's worst when they pass (6): only they are worth testing.
    assert first == VerifyUnits((0, 1, 2))
    # B passes, A and C fail: B's final score is in [6, 8]; A, C at most 8 - 10000; D at most -94.
    second = decide(rows, [True, False, True, None], tie_break_seed=1)
    assert isinstance(second, Decided) and second.selection.index == 1
    assert not second.exact  # D's cells were never run


def test_a_tie_a_stopped_candidate_could_break_is_resumed():
    # A and B differ only on input 1; C stopped after timing out on input 0.
    #   input 0: A="1", B="1", C=None -> A +1, B +1, C -100
    #   input 1: A="x", B="y", C unknown -> A 0, B 0 now; C returning "x" gives A +1, "y" gives B +1.
    rows = [["1", "x"], ["1", "y"], [None, UNKNOWN]]
    assert decide(rows, [False, False, False], tie_break_seed=0) == ResumeInputs((2,))
    resolved = decide([["1", "x"], ["1", "y"], [None, "y"]], [False, False, False], tie_break_seed=0)
    assert isinstance(resolved, Decided) and resolved.selection.index == 1 and resolved.exact
    # C returned "y": B 1 + 1 = 2, A 1 + 0 = 1, C -100 + 1 = -99.
    assert resolved.selection.scores == (1.0, 2.0, -99.0)


def test_identical_candidates_tie_whatever_the_unknown_cells_hold():
    # A and B returned the same on every input: any unknown output adds the same to both, so
    # their tie is certain and the seeded draw is the full evaluation's.
    rows = [["1", "2"], ["1", "2"], ["1", None], [None, UNKNOWN]]
    flags = [False, False, False, False]
    for seed in range(20):
        decision = decide(rows, flags, tie_break_seed=seed)
        assert isinstance(decision, Decided)
        full = functional_consensus([["1", "2"], ["1", "2"], ["1", None], [None, "2"]], flags, seed)
        assert decision.selection.index == full.index


def test_without_unit_tests_and_inputs_every_candidate_ties():
    decision = decide([[], [], []], [False, False, False], tie_break_seed=5)
    assert isinstance(decision, Decided)
    assert decision.selection.index == functional_consensus([[], [], []], [False] * 3, 5).index


def test_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        decide([["1"]], [False, False], tie_break_seed=0)


def _reveal(full_row, timeouts, start):
    """The cells from ``start`` on that a run from there shows: up to its first timeout."""
    stop = next((j for j in sorted(timeouts) if j >= start), None)
    end = len(full_row) if stop is None else stop + 1
    return list(full_row[start:end]) + [UNKNOWN] * (len(full_row) - end)


def _lazy_winner(full_rows, full_failed, seed, timeouts):
    """Run the decision loop against an oracle; returns (winner, resumed runs, units run).
    ``timeouts[i]``: the inputs candidate i times out on (each run stops at the first)."""
    rows = [_reveal(row, stops, 0) for row, stops in zip(full_rows, timeouts)]
    failed: list = [None] * len(full_rows)
    resumed = units = 0
    for _ in range(200):
        decision = decide(rows, failed, seed)
        if isinstance(decision, Decided):
            return decision.selection.index, resumed, units
        if isinstance(decision, VerifyUnits):
            assert decision.candidates and all(failed[i] is None for i in decision.candidates)
            for i in decision.candidates:
                failed[i] = full_failed[i]
                units += 1
        else:
            assert decision.candidates
            for i in decision.candidates:
                first = rows[i].index(UNKNOWN)
                rows[i] = rows[i][:first] + _reveal(full_rows[i], timeouts[i], first)
                resumed += 1
    raise AssertionError("no decision in 200 rounds")


def test_the_lazy_decision_picks_the_full_evaluations_winner():
    for seed in range(3000):
        _check_one_random_case(seed)


def _check_one_random_case(seed: int) -> None:
    rng = random.Random(seed)
    count, inputs = rng.randint(1, 7), rng.randint(0, 4)
    alphabet = ["a", "b", "c"][: rng.randint(1, 3)]
    full_rows, timeouts = [], []
    for _ in range(count):
        row = [rng.choice(alphabet + [None]) for _ in range(inputs)]
        stops = set()
        if inputs and rng.random() < 0.4:  # timeouts at some inputs: each run stops at one
            stops = set(rng.sample(range(inputs), rng.randint(1, inputs)))
            for j in stops:
                row[j] = None
        full_rows.append(row)
        timeouts.append(stops)
    full_failed = [rng.random() < 0.5 for _ in range(count)]
    tie_seed = rng.getrandbits(32)
    winner, _, _ = _lazy_winner(full_rows, full_failed, tie_seed, timeouts)
    expected = functional_consensus(full_rows, full_failed, tie_seed).index
    assert winner == expected, (seed, full_rows, full_failed, timeouts)


def test_the_typical_case_runs_nothing_it_does_not_need():
    # Ten candidates agreeing on five inputs, one that loops from input 0: the looper is never
    # resumed or unit-tested; the agreeing ones are unit-tested once.
    full = [["1", "2", "3", "4", "5"] for _ in range(10)] + [[None] * 5]
    winner, resumed, units = _lazy_winner(full, [False] * 11, 3, [set()] * 10 + [{0, 1, 2, 3, 4}])
    assert winner < 10 and resumed == 0 and units == 10
