"""FunCoder's consensus decided from partial results: the winner a full evaluation would pick,
found while running as little as possible.

The full evaluation (``selection.functional_consensus``) runs every candidate on every generated
input and every candidate on the unit tests. Two parts of it are expensive and rarely decide
anything: a candidate that timed out on one input usually times out on the next (each pays the
whole time limit), and the unit tests of a candidate far below the top cannot make it win.
So the policy runs inputs until a candidate's first timeout, and unit tests only for the
candidates that can still win; ``decide`` says whether that is already enough to know the full
evaluation's answer, and if not, what to run next.

The guarantee: the winner is the one ``functional_consensus`` picks on the full results,
including its seeded random tie-break among equal scores. ``decide`` bounds every candidate's
final score (consensus points minus ``UNIT_TEST_PENALTY`` when a unit test failed) from below
and above over every value the unknown parts could take:
- an input not run (``UNKNOWN``): for its own candidate, between a crash (-100) and agreeing with
  every other candidate that returned something; for every other candidate, between no
  agreement and one more agreeing output;
- unit tests not run: between failed (-10,000) and passed.
The decision is certain when the candidates that can still reach the best lower bound (the
contenders) provably share one final score: each score exact, or all of them members of one
*class* (candidates with identical known outputs on every input get identical points from any
unknown value) with the same unit-test result. Then the tie-break draws among exactly the set
the full evaluation would tie, in the same order.

Otherwise it asks, cheapest first: the unit tests of the candidates not yet tested whose
consensus points can reach the best lower bound among candidates that may pass them
(``VerifyUnits``); when no unit test can help, the remaining inputs of every candidate that
stopped at a timeout (``ResumeInputs``). After a resume everything about consensus is exact, so
the process ends: every round tests at least one candidate or removes every unknown input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tasks.policies.selection import (
    AGREEMENT_POINT,
    CRASH_PENALTY,
    UNIT_TEST_PENALTY,
    NoCandidates,
    Selection,
    _pick_among_best,
)


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()  # an input a candidate did not run (it stopped at an earlier timeout)

Cell = str | None | _Unknown  # an output_key, None (crashed / timed out / no value), or UNKNOWN


@dataclass(frozen=True)
class Decided:
    selection: Selection
    exact: bool  # every score in ``selection.scores`` is the full evaluation's


@dataclass(frozen=True)
class VerifyUnits:
    candidates: tuple[int, ...]  # run the unit tests of these


@dataclass(frozen=True)
class ResumeInputs:
    candidates: tuple[int, ...]  # run the inputs these candidates did not reach


Decision = Decided | VerifyUnits | ResumeInputs


def decide(
    rows: Sequence[Sequence[Cell]],
    unit_failed: Sequence[bool | None],
    tie_break_seed: int,
) -> Decision:
    """``rows[i][j]``: candidate i on input j; ``unit_failed[i]``: True / False once candidate
    i's unit tests ran (False for every candidate when there are none), None before."""
    if not rows:
        raise NoCandidates("functional consensus needs at least one candidate")
    if len(unit_failed) != len(rows):
        raise ValueError(f"{len(rows)} candidates but {len(unit_failed)} unit-test flags")
    count, inputs = len(rows), max((len(row) for row in rows), default=0)
    grid = [[row[j] if j < len(row) else None for j in range(inputs)] for row in rows]
    lo, hi = _consensus_bounds(grid)
    stopped = tuple(i for i in range(count) if any(cell is UNKNOWN for cell in grid[i]))
    def key_bounds(i: int) -> tuple[float, float]:
        failed = unit_failed[i]
        low = lo[i] - (UNIT_TEST_PENALTY if failed is not False else 0.0)
        high = hi[i] - (UNIT_TEST_PENALTY if failed is True else 0.0)
        return low, high

    bounds = [key_bounds(i) for i in range(count)]
    best_low = max(low for low, _ in bounds)
    contenders = [i for i in range(count) if bounds[i][1] >= best_low]
    if _provably_equal(contenders, grid, lo, hi, unit_failed, stopped):
        exact = not stopped and all(flag is not None for flag in unit_failed)
        scores = tuple(bounds[i][0] if bounds[i][0] == bounds[i][1] else float("nan") for i in range(count))
        tied_scores = [1.0 if i in contenders else 0.0 for i in range(count)]
        return Decided(Selection(_pick_among_best(tied_scores, tie_break_seed), scores), exact)

    may_pass = [i for i in range(count) if unit_failed[i] is not True]
    if may_pass:
        reach = max(lo[i] for i in may_pass)
        worth_testing = tuple(i for i in range(count) if unit_failed[i] is None and hi[i] >= reach)
        if worth_testing:
            return VerifyUnits(worth_testing)
    if stopped:
        return ResumeInputs(stopped)
    # Exact consensus and every contender's unit tests known make contenders equal; reaching
    # here means a contender is untested though no candidate that may pass reaches it.
    return VerifyUnits(tuple(i for i in contenders if unit_failed[i] is None))


def _consensus_bounds(grid: list[list[Cell]]) -> tuple[list[float], list[float]]:
    """Each candidate's consensus points, lowest and highest over the unknown cells' values."""
    count = len(grid)
    lo, hi = [0.0] * count, [0.0] * count
    for j in range(len(grid[0]) if grid else 0):
        column = [row[j] for row in grid]
        unknown = sum(cell is UNKNOWN for cell in column)
        returned = sum(cell is not None and cell is not UNKNOWN for cell in column)
        counts: dict[str, int] = {}
        for cell in column:
            if cell is not None and cell is not UNKNOWN:
                counts[cell] = counts.get(cell, 0) + 1
        for i, cell in enumerate(column):
            if cell is UNKNOWN:
                lo[i] -= CRASH_PENALTY
                hi[i] += AGREEMENT_POINT * (returned + unknown - 1)
            elif cell is None:
                lo[i] -= CRASH_PENALTY
                hi[i] -= CRASH_PENALTY
            else:
                lo[i] += AGREEMENT_POINT * (counts[cell] - 1)
                hi[i] += AGREEMENT_POINT * (counts[cell] - 1 + unknown)
    return lo, hi


def _provably_equal(contenders, grid, lo, hi, unit_failed, stopped) -> bool:
    """Do the contenders share one final score whatever the unknown parts turn out to be?"""
    flags = {unit_failed[i] for i in contenders}
    if None in flags or len(flags) != 1:
        return False
    if len(contenders) == 1:
        return True
    if all(lo[i] == hi[i] for i in contenders):
        return len({lo[i] for i in contenders}) == 1
    if any(i in stopped for i in contenders):
        return False  # a stopped candidate's own points are open
    return len({tuple(grid[i]) for i in contenders}) == 1
