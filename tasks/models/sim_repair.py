"""The simulator's answers to FunCoder's and self-debug's request kinds: ``repair``, ``divide``
and ``conquer``.

- ``repair`` (self_debug): an explanation, then code — the reference solution with probability
  sigmoid(logit(P(correct)) + feedback bonus), else a mutation of it. The bonus grows with what
  the feedback says: nothing (0), only that something failed (+0.3), the exception or status of
  the failing test (+0.6), the failing test itself with the expected and actual values (+1.0).
  The model's per-problem affinity stays in P(correct), so a problem a model cannot solve stays
  hard to repair, as with a real model.
- ``divide`` (funcoder) is answered as a decomposition and ``conquer`` as an implementation of
  the request's target, by the simulator's own answers for ``decompose`` and for code (the
  target, root or helper, travels in the request's facts).
"""

from __future__ import annotations

import math
import random

import tasks.models.sim as sim
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
    if ("expected" in text and "got" in text) or "assert" in text and ("==" in text or "!=" in text):
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


def register(answers: dict) -> None:
    """Add this module's request kinds to the simulator's kind -> answer table."""
    answers["repair"] = answer_repair
    if "decompose" in answers:
        answers.setdefault("divide", answers["decompose"])
    code_answer = answers.get("generate_helper") or answers.get("generate")
    if code_answer is not None:
        answers.setdefault("conquer", code_answer)
