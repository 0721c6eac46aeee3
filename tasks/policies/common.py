"""What several policies build the same way: the root request for a problem, and a program
from a model's answer (extracted, checked against the target's signature, imports added)."""

from __future__ import annotations

from dataclasses import dataclass

from tasks import prompts
from tasks.policies.engine import GENERATOR, ROOT, Generate, NodeRef
from tasks.policies.program import prompt_imports, with_imports
from tasks.records import Problem


@dataclass(frozen=True)
class Candidate:
    """One sample read back: ``program`` is runnable text, or None when the sample is unusable."""

    program: str | None
    problem: str  # "" | no_code | missing_target | signature_mismatch | stub | model_error
    fenced: bool


def root_signature(problem: Problem):
    """The entry point's argument shape from the prompt, or None where the prompt has no code
    signature (MBPP's prompts are prose with an example assert)."""
    if not problem.entry_point:
        return None
    return prompts.function_signature(problem.prompt, problem.entry_point)


def root_generate(
    problem: Problem,
    n: int,
    temperature: float,
    node: NodeRef = ROOT,
    first_sample_index: int = 0,
    max_tokens: int = 1024,
) -> Generate:
    """The generator's request for the whole problem (a function, or a stdin/stdout program)."""
    name = "generate" if problem.entry_point else "generate_program"
    values = {"code": problem.prompt.strip("\n")}
    if problem.entry_point:
        values["target"] = problem.entry_point
    messages, sha256 = prompts.render(name, **values)
    return Generate(
        role=GENERATOR, kind="generate", messages=messages, n=n, temperature=temperature,
        node=node, prompt_sha256=sha256, target=problem.entry_point, max_tokens=max_tokens,
        first_sample_index=first_sample_index,
    )  # fmt: skip


def read_candidate(
    problem: Problem, text: str, error: str | None, target: str | None = None, signature=None
) -> Candidate:
    """A sample as a program for ``target`` (default: the problem's entry point)."""
    if error:
        return Candidate(None, "model_error", False)
    target = problem.entry_point if target is None else target
    extracted = prompts.read_code(text, target, signature)
    if not extracted.code:
        return Candidate(None, extracted.problem, extracted.fenced)
    program = with_imports(prompt_imports(problem.prompt), extracted.code)
    return Candidate(program if extracted.ok else None, extracted.problem, extracted.fenced)
