"""The selectors on hand-computed examples: every expected score is worked out in the comments."""

from __future__ import annotations

import pytest

from tasks.policies.selection import (
    NoCandidates,
    consensus_sets,
    dual_agreement,
    functional_consensus,
    most_tests_passed,
    output_key,
    pass_count,
    tie_break_seed,
)


# ----------------------------------------------------------------- FunCoder functional consensus
def test_functional_consensus_scores_agreement_crashes_and_unit_tests():
    # Four candidates, three call-only inputs. Outputs per input:
    #   input 0: A="1" B="1" C="1" D="2"  -> counts {1: 3, 2: 1}: A,B,C +2 each, D +0
    #   input 1: A="5" B="5" C=crash D="5" -> counts {5: 3}: A,B,D +2 each, C -100
    #   input 2: A="x" B="y" C="x" D="x"  -> counts {x: 3, y: 1}: A,C,D +2, B +0
    # Totals before unit tests: A 2+2+2 = 6, B 2+2+0 = 4, C 2-100+2 = -96, D 0+2+2 = 4.
    # D failed a unit test: D = 4 - 10000 = -9996.
    outputs = [
        ["1", "5", "x"],
        ["1", "5", "y"],
        ["1", None, "x"],
        ["2", "5", "x"],
    ]
    selection = functional_consensus(outputs, [False, False, False, True], tie_break_seed=0)
    assert selection.scores == (6.0, 4.0, -96.0, -9996.0)
    assert selection.index == 0


def test_functional_consensus_unit_test_penalty_applies_once_and_dominates_agreement():
    # Three identical candidates agree with each other on 2 inputs (+2 per input = +4 each),
    # a lone dissenter scores 0 on both inputs. The agreeing three all failed a unit test
    # (-10000 once each, however many unit tests they failed): 4 - 10000 = -9996 < 0.
    outputs = [["a", "b"], ["a", "b"], ["a", "b"], ["c", "d"]]
    selection = functional_consensus(outputs, [True, True, True, False], tie_break_seed=0)
    assert selection.scores == (-9996.0, -9996.0, -9996.0, 0.0)
    assert selection.index == 3


def test_functional_consensus_short_rows_count_missing_inputs_as_crashes():
    # Candidate 1 has a result only for input 0: input 0 -> both "7": +1 each;
    # input 1 -> candidate 0 alone "8": +0, candidate 1 missing: -100.
    selection = functional_consensus([["7", "8"], ["7"]], [False, False], tie_break_seed=0)
    assert selection.scores == (1.0, -99.0)
    assert selection.index == 0


def test_functional_consensus_ties_break_at_random_but_reproducibly():
    # Two pairs of agreeing candidates: every candidate scores +1 on the one input.
    outputs = [["p"], ["p"], ["q"], ["q"]]
    flags = [False] * 4
    picks = {functional_consensus(outputs, flags, tie_break_seed=seed).index for seed in range(64)}
    assert picks == {0, 1, 2, 3}  # every tied candidate can win...
    again = [functional_consensus(outputs, flags, tie_break_seed=seed).index for seed in range(64)]
    assert again == [functional_consensus(outputs, flags, tie_break_seed=seed).index for seed in range(64)]


def test_functional_consensus_with_no_inputs_falls_back_to_unit_tests_and_ties():
    selection = functional_consensus([[], [], []], [True, False, True], tie_break_seed=5)
    assert selection.scores == (-10000.0, 0.0, -10000.0)
    assert selection.index == 1


def test_functional_consensus_rejects_mismatched_inputs():
    with pytest.raises(NoCandidates):
        functional_consensus([], [], tie_break_seed=0)
    with pytest.raises(ValueError):
        functional_consensus([["a"]], [False, False], tie_break_seed=0)


def test_output_key_compares_as_the_reference_does():
    assert output_key((1, 2)) == output_key([1, 2])  # json.dumps in the reference: same text
    assert output_key({3, 1, 2}) == output_key({2, 3, 1})
    assert output_key({"b": 1, "a": 2}) == output_key({"a": 2, "b": 1})
    assert output_key(1) != output_key("1")
    assert output_key(1.5) != output_key(1.25)
    assert output_key(complex(1, 2)) == output_key(complex(1, 2)) != output_key(complex(1, 3))


# ----------------------------------------------------------------- CodeT dual execution agreement
def test_dual_agreement_scores_consensus_sets_by_size_times_tests_passed():
    # Five candidates, four generated tests.
    #   c0 passes {0,1,2}  \
    #   c1 passes {0,1,2}   } set S1 = {0,1,2}: 2 candidates x 3 tests = 6
    #   c2 passes {0,1,2,3}    set S2 = {0,1,2,3}: 1 x 4 = 4   (pass count alone would pick c2)
    #   c3 passes {3}       \
    #   c4 passes {3}        } set S3 = {3}: 2 x 1 = 2
    passed = [frozenset({0, 1, 2}), frozenset({0, 1, 2}), frozenset({0, 1, 2, 3}), frozenset({3}), frozenset({3})]
    selection = dual_agreement(passed, tie_break_seed=0)
    assert selection.scores == (6.0, 6.0, 4.0, 2.0, 2.0)
    assert selection.index == 0  # the earliest member of the best set
    assert pass_count(passed, tie_break_seed=0).index == 2
    assert pass_count(passed, tie_break_seed=0).scores == (3.0, 3.0, 4.0, 1.0, 1.0)


def test_dual_agreement_large_wrong_consensus_loses_to_small_right_one():
    # Three candidates agree on passing nothing (3 x 0 = 0); one passes both tests (1 x 2 = 2).
    passed = [frozenset(), frozenset(), frozenset(), frozenset({0, 1})]
    selection = dual_agreement(passed, tie_break_seed=0)
    assert selection.scores == (0.0, 0.0, 0.0, 2.0)
    assert selection.index == 3


def test_dual_agreement_breaks_ties_between_sets_reproducibly():
    # {0}: 2 x 1 = 2 ; {1}: 2 x 1 = 2 -> a tie between sets; the winner is a set's first member.
    passed = [frozenset({0}), frozenset({1}), frozenset({0}), frozenset({1})]
    picks = {dual_agreement(passed, tie_break_seed=seed).index for seed in range(64)}
    assert picks == {0, 1}
    assert consensus_sets(passed) == {frozenset({0}): (0, 2), frozenset({1}): (1, 3)}


# ----------------------------------------------------------------- Best-of-N
def test_most_tests_passed_takes_the_earliest_best():
    selection = most_tests_passed([1, 3, 0, 3])
    assert selection.scores == (1.0, 3.0, 0.0, 3.0)
    assert selection.index == 1


def test_selectors_reject_no_candidates():
    for call in (lambda: dual_agreement([], 0), lambda: pass_count([], 0), lambda: most_tests_passed([])):
        with pytest.raises(NoCandidates):
            call()


def test_tie_break_seed_is_stable_and_distinguishes_items():
    assert tie_break_seed("HumanEval/0", 1, "root") == tie_break_seed("HumanEval/0", 1, "root")
    assert tie_break_seed("HumanEval/0", 1, "root") != tie_break_seed("HumanEval/0", 2, "root")
    assert 0 <= tie_break_seed("HumanEval/0", 1, "root") < 2**64
