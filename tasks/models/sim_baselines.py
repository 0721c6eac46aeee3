"""The simulator's answers to FunCoder's and self-debug's request kinds: ``repair``, ``divide``
and ``conquer``.

- ``repair`` (self_debug): an explanation, then code — the reference solution with probability
  sigmoid(logit(P(correct)) + feedback bonus), else a mutation of it. The bonus grows with what
  the feedback says: nothing (0), only that something failed (+0.3), the exception or status of
  the failing test (+0.6), the failing test itself with the expected and actual values (+1.0).
  The model's per-problem affinity stays in P(correct), so a problem a model cannot solve stays
  hard to repair, as with a real model.
- ``divide`` (funcoder): FunCoder asks every node to be written, split into helpers only where
  the work is hard enough. The simulator decomposes (its ``decompose`` answer: the body lifted
  into a ``<target>_core`` stub) with probability ``difficulty / (1 + lifts)`` clamped to
  [0.05, 0.9] — hard problems split at the root, helpers rarely split again — and otherwise
  answers with an implementation of the target (its code answer).
- ``conquer`` (funcoder) is answered as code for the request's target (root or helper; the
  target travels in the request's facts), as ``generate`` is.
"""

from __future__ import annotations

import math
import random

import tasks.models.sim as sim
from tasks.models import sim_tree
from tasks.records import Problem

FEEDBACK_BONUS = {"none": 0.0, "failed": 0.3, "status": 0.6, "values": 1.0}

_EXPLANATIONS = (
    "The code mishandles the failing case: tracing it by hand shows the wrong branch is taken.",
    "Running the failing test in my head, the loop stops one step too early.",
    "The failing test shows the result is computed from the wrong intermediate value.",
    "The error comes from an edge case the code does not handle.",
)


def feedback_level(feedback: str) -> str:
    """How much the feedback tells: values (expected vs got), status, failed, or none."""
    text = feedback.lower()
    if not text.strip():
        return "none"
    if ("expected" in text and "got" in text) or ("assert" in text and ("==" in text or "!=" in text)):
        return "values"
    if "error" in text or "timeout" in text or "syntax" in text or "exception" in text:
        return "status"
    return "failed"


def p_repair(skill: sim.SimSkill, problem: Problem, feedback: str) -> float:
    """P(the repair is the reference solution) for this model, problem and feedback."""
    p = min(max(sim.p_correct(skill, problem), 1e-9), 1 - 1e-9)
    logit = math.log(p / (1 - p)) + FEEDBACK_BONUS[feedback_level(feedback)]
    return 1.0 / (1.0 + math.exp(-logit))


def answer_repair(skill, problem: Problem | None, prompt: str, facts: dict, rng: random.Random) -> str:
    explanation = rng.choice(_EXPLANATIONS)
    if problem is None or not problem.reference_solution:
        return explanation + "\n\n" + sim._code_answer(sim._stub_for(prompt, ""), rng)
    if rng.random() < p_repair(skill, problem, facts.get("feedback", "")):
        code = problem.reference_solution
    else:
        code, _kind = sim.mutate(problem.reference_solution, problem.entry_point, rng)
    return explanation + "\n\n" + sim._code_answer(code, rng)


def p_divide(problem: Problem, target: str) -> float:
    """P(a divide request for ``target`` is answered with a decomposition)."""
    lifts = sim_tree.root_of(target, problem.entry_point) if target else 0
    return min(0.9, max(0.05, sim.difficulty(problem) / (1 + (lifts or 0))))


def register(answers: dict) -> None:
    """Add this module's request kinds to the simulator's kind -> answer table."""
    decompose, code = answers["decompose"], answers["generate"]

    def answer_divide(skill, problem: Problem | None, prompt: str, facts: dict, rng: random.Random) -> str:
        target = facts.get("target", "") or (problem.entry_point if problem else "")
        if problem is not None and rng.random() < p_divide(problem, target):
            return decompose(skill, problem, prompt, facts, rng)
        return code(skill, problem, prompt, facts, rng)

    answers["repair"] = answer_repair
    answers["divide"] = answer_divide
    answers["conquer"] = code
