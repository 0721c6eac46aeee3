"""How a sampling policy picks one candidate: pure functions over execution results.

Three selectors, each the one its source defines:

- ``functional_consensus`` (FunCoder, ``funcoder/methods/funcoder/gen.py``,
  ``runner_score_functional_similarity``): on every generated call-only input, a candidate that
  returned an output earns one point per *other* candidate that returned the same output
  (``agreeing - 1``); a candidate that crashed on the input (or has no result for it) loses 100;
  a candidate that failed any unit test (tests with expected values, e.g. the docstring
  examples) loses 10,000 once. The highest score wins; ties are broken at random, seeded by the
  work item (the reference calls ``random.choice`` unseeded).
- ``dual_agreement`` (CodeT, Chen et al. 2022, §2.2 "dual execution agreement"): candidates
  that pass exactly the same set of generated tests form a consensus set; a set scores
  (candidates in it) × (tests its members pass); the best set wins and its earliest candidate is
  submitted (the members agree on every test, so which one is immaterial to the score). Ties
  between sets are broken at random, seeded by the work item. ``pass_count`` is the FunCoder
  repository's ``codet`` scorer (``funcoder/methods/codet/gen.py``, ``runner_score_codet``):
  each candidate scores the number of tests it passes, random (seeded) tie-break.
- ``most_tests_passed`` (Best-of-N): the candidate passing the most tests; ties go to the
  earliest candidate.

Every function is pure: inputs in, a ``Selection`` (the winner and every candidate's score)
out; the random tie-break draws from ``random.Random(tie_break_seed)`` only.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

AGREEMENT_POINT = 1.0  # per other candidate with the same output on one input
CRASH_PENALTY = 100.0  # per input a candidate crashed on (FunCoder gen.py: scores[i] -= 100.0)
UNIT_TEST_PENALTY = 10_000.0  # once, if any unit test failed (FunCoder gen.py: -= 10000.0)


@dataclass(frozen=True)
class Selection:
    index: int  # the winning candidate
    scores: tuple[float, ...]  # every candidate's score, in candidate order


class NoCandidates(ValueError):
    """A selector was given no candidate to choose from."""


def output_key(value: Any) -> str:
    """A canonical text for one call's output, so equal outputs compare equal.

    JSON as the reference compares them (``json.dumps`` of the result: a tuple equals the list
    with the same items); sets are sorted first and anything JSON cannot hold is its ``repr``."""
    return json.dumps(value, sort_keys=True, ensure_ascii=True, default=_json_fallback)


def _json_fallback(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted((output_key(item) for item in value))
    return repr(value)


def _pick_among_best(scores: Sequence[float], tie_break_seed: int) -> int:
    best = max(scores)
    tied = [index for index, score in enumerate(scores) if score == best]
    if len(tied) == 1:
        return tied[0]
    return random.Random(tie_break_seed).choice(tied)


def functional_consensus(
    outputs: Sequence[Sequence[str | None]],
    unit_test_failed: Sequence[bool],
    tie_break_seed: int,
) -> Selection:
    """FunCoder's consensus.

    ``outputs[i][j]`` is candidate i's ``output_key`` on input j, or ``None`` when the call
    raised, timed out or returned nothing; a row shorter than the longest counts the missing
    inputs as crashes. ``unit_test_failed[i]``: candidate i failed at least one unit test."""
    if not outputs:
        raise NoCandidates("functional consensus needs at least one candidate")
    if len(unit_test_failed) != len(outputs):
        raise ValueError(f"{len(outputs)} candidates but {len(unit_test_failed)} unit-test flags")
    inputs = max((len(row) for row in outputs), default=0)
    scores = [0.0] * len(outputs)
    for j in range(inputs):
        column = [row[j] if j < len(row) else None for row in outputs]
        counts: dict[str, int] = {}
        for key in column:
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
        for i, key in enumerate(column):
            if key is None:
                scores[i] -= CRASH_PENALTY
            else:
                scores[i] += AGREEMENT_POINT * (counts[key] - 1)
    for i, failed in enumerate(unit_test_failed):
        if failed:
            scores[i] -= UNIT_TEST_PENALTY
    return Selection(index=_pick_among_best(scores, tie_break_seed), scores=tuple(scores))


def consensus_sets(passed_tests: Sequence[frozenset[int]]) -> dict[frozenset[int], tuple[int, ...]]:
    """CodeT's consensus sets: candidates grouped by the exact set of tests they pass."""
    groups: dict[frozenset[int], list[int]] = {}
    for index, passed in enumerate(passed_tests):
        groups.setdefault(frozenset(passed), []).append(index)
    return {passed: tuple(members) for passed, members in groups.items()}


def dual_agreement(passed_tests: Sequence[frozenset[int]], tie_break_seed: int) -> Selection:
    """CodeT's dual execution agreement. ``passed_tests[i]``: indices of the generated tests
    candidate i passes. Each candidate's score is its consensus set's score."""
    if not passed_tests:
        raise NoCandidates("dual agreement needs at least one candidate")
    sets = consensus_sets(passed_tests)
    set_scores = {passed: float(len(members) * len(passed)) for passed, members in sets.items()}
    ordered = list(sets)  # first-seen order: deterministic for a given candidate order
    chosen = ordered[_pick_among_best([set_scores[s] for s in ordered], tie_break_seed)]
    scores = tuple(set_scores[frozenset(passed)] for passed in passed_tests)
    return Selection(index=sets[chosen][0], scores=scores)


def pass_count(passed_tests: Sequence[frozenset[int]], tie_break_seed: int) -> Selection:
    """The FunCoder repository's ``codet`` scorer: tests passed, random (seeded) tie-break."""
    if not passed_tests:
        raise NoCandidates("pass count needs at least one candidate")
    scores = [float(len(passed)) for passed in passed_tests]
    return Selection(index=_pick_among_best(scores, tie_break_seed), scores=tuple(scores))


def most_tests_passed(tests_passed: Sequence[int]) -> Selection:
    """Best-of-N: the candidate passing the most tests; the earliest among equals."""
    if not tests_passed:
        raise NoCandidates("best-of-n needs at least one candidate")
    scores = tuple(float(count) for count in tests_passed)
    return Selection(index=scores.index(max(scores)), scores=scores)


def tie_break_seed(*parts: object) -> int:
    """A stable 64-bit seed from the work item's identity (task, seed, node...), so the same
    item breaks the same ties on every run and on every machine (``hash`` is salted)."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")
