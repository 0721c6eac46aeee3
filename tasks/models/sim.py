"""Simulated models ``sim/<name>``: a deterministic stand-in for an LLM, for dry runs and tests.

The simulator answers every request kind the policies send (``tasks.prompts``): code
(``generate``/``implement``/``repair``), plans and tests. It is registered as a litellm custom
provider, so ``litellm.acompletion(model="sim/small", ...)`` and the client's real code path
reach it in-process; ``patflow sim serve`` serves the same function over OpenAI-compatible HTTP
as ``sim-small`` / ``sim-large``.

How an answer is made (a fixed function of model, seed and messages; temperature is ignored):
- The problem is recognised by its prompt text (``task_prompt_of``) among the problems made
  known with ``register_problems`` (process-global). An unknown problem gets a plausible but
  wrong stub: the right function name, returning None.
- Code answers are the problem's ``reference_solution`` or a mutation of it (wrong comparison
  or arithmetic operator, off-by-one, wrong constant, dropped branch or return value, ``and``
  and ``or`` swapped, a syntax error, an inserted ``while True: pass``). Every AST mutation is checked to change the
  AST. P(correct) = sigmoid(skill - 3 * (difficulty - 0.5) + plan bonus), where difficulty in
  [0, 1] grows with the log of the reference solution's AST size, and the plan bonus (implement
  requests only) grows with the plan's number of steps (1.5 for a 6-step plan).
- Plans are numbered steps naming helper functions; a stronger planner (and an easier problem)
  more often writes a detailed 5-6 step plan, a weak one a vague 2-step plan. So plan quality
  travels in the text itself, as it would with a real model.
- Tests are a block of asserts from the public tests or the docstring's ``>>>`` examples; a
  weak model sometimes gets an expected value wrong.
- Usage is counted with litellm's tokenizer (tiktoken ``cl100k_base``, bundled in the wheel,
  works offline) over the real request messages and answer text; answers longer than
  ``max_tokens`` are cut, like a real model's ``finish_reason="length"``.

The skills and prices are a simulator's: they say nothing about any real model.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import random
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import litellm  # noqa: E402
from litellm.llms.custom_llm import CustomLLM, CustomLLMError  # noqa: E402

from tasks.prompts import request_purpose, task_prompt_of  # noqa: E402
from tasks.records import Problem  # noqa: E402

PROVIDER = "sim"


@dataclass(frozen=True)
class SimSkill:
    name: str
    code_logit: float  # log-odds of a correct program at difficulty 0.5 without a plan
    plan_logit: float  # log-odds of a detailed plan at difficulty 0.5
    tests_accuracy: float  # P(each written assert is right)


SKILLS: dict[str, SimSkill] = {
    "small": SimSkill("small", code_logit=0.1, plan_logit=-0.5, tests_accuracy=0.8),
    "medium": SimSkill("medium", code_logit=1.0, plan_logit=0.8, tests_accuracy=0.9),
    "large": SimSkill("large", code_logit=2.0, plan_logit=2.0, tests_accuracy=0.97),
}

DIFFICULTY_SLOPE = 3.0
PLAN_BONUS_PER_STEP = 0.25  # logit bonus per numbered plan step, capped at 6 steps
_MAX_PLAN_STEPS = 6


class UnknownSimModel(ValueError):
    pass


# --------------------------------------------------------------------------- problems
_PROBLEMS: dict[str, Problem] = {}
_PROBLEMS_LOCK = threading.Lock()


def _normalise_prompt(prompt: str) -> str:
    return prompt.strip()


def register_problems(problems: Iterable[Problem]) -> int:
    """Make problems known to the simulator (process-global); returns how many are known."""
    with _PROBLEMS_LOCK:
        for problem in problems:
            _PROBLEMS[_normalise_prompt(problem.prompt)] = problem
        return len(_PROBLEMS)


def clear_problems() -> None:
    with _PROBLEMS_LOCK:
        _PROBLEMS.clear()


def find_problem(messages: Sequence) -> Problem | None:
    prompt = task_prompt_of(messages)
    return None if prompt is None else _PROBLEMS.get(_normalise_prompt(prompt))


# --------------------------------------------------------------------------- difficulty
def _is_docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _entry_function(tree: ast.Module, entry_point: str) -> ast.FunctionDef | None:
    found = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            found = node
    return found


def _body_without_docstring(function: ast.FunctionDef) -> list[ast.stmt]:
    body = list(function.body)
    return body[1:] if body and _is_docstring(body[0]) else body


def difficulty(problem: Problem) -> float:
    """In [0, 1]: log AST size of the reference solution's entry function (10 -> 0, 200 -> 1)."""
    source = problem.reference_solution or ""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return 0.5
    function = _entry_function(tree, problem.entry_point) if problem.entry_point else None
    statements = _body_without_docstring(function) if function else tree.body
    nodes = sum(1 for statement in statements for _ in ast.walk(statement))
    return min(1.0, max(0.0, math.log(max(nodes, 1) / 10) / math.log(20)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def plan_steps(plan_text: str) -> int:
    return len(re.findall(r"(?m)^\s*\d+[.)]\s+\S", plan_text))


def p_correct(skill: SimSkill, problem: Problem, plan_text: str | None = None) -> float:
    logit = skill.code_logit - DIFFICULTY_SLOPE * (difficulty(problem) - 0.5)
    if plan_text is not None:
        logit += PLAN_BONUS_PER_STEP * min(plan_steps(plan_text), _MAX_PLAN_STEPS)
    return _sigmoid(logit)


# --------------------------------------------------------------------------- mutations
_COMPARE_SWAPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
_BINOP_SWAPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult,
}  # fmt: skip

MUTATION_WEIGHTS = {
    "comparison": 3.0,
    "off_by_one": 3.0,
    "operator": 2.0,
    "constant": 1.5,
    "dropped_branch": 2.0,
    "dropped_return": 1.0,
    "boolean": 1.0,
    "syntax_error": 0.5,
    "infinite_loop": 0.3,
}


def _mutation_sites(statements: list[ast.stmt]) -> dict[str, list[ast.AST]]:
    sites: dict[str, list[ast.AST]] = {kind: [] for kind in MUTATION_WEIGHTS}
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Compare) and any(type(op) in _COMPARE_SWAPS for op in node.ops):
                sites["comparison"].append(node)
            elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
                sites["operator"].append(node)
            elif isinstance(node, ast.BoolOp):
                sites["boolean"].append(node)
            elif isinstance(node, ast.If):
                sites["dropped_branch"].append(node)
            elif isinstance(node, ast.Return) and node.value is not None:
                sites["dropped_return"].append(node)
            elif isinstance(node, ast.Constant) and not isinstance(node.value, bool):
                if isinstance(node.value, int):
                    sites["off_by_one"].append(node)
                    sites["constant"].append(node)
                elif isinstance(node.value, (float, str)):
                    sites["constant"].append(node)
    return sites


def _apply_ast_mutation(kind: str, node: ast.AST, rng: random.Random, tree: ast.Module) -> None:
    if kind == "comparison":
        indexes = [i for i, op in enumerate(node.ops) if type(op) in _COMPARE_SWAPS]
        i = rng.choice(indexes)
        node.ops[i] = _COMPARE_SWAPS[type(node.ops[i])]()
    elif kind == "operator":
        node.op = _BINOP_SWAPS[type(node.op)]()
    elif kind == "boolean":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "off_by_one":
        node.value = node.value + rng.choice((1, -1))
    elif kind == "constant":
        if isinstance(node.value, str):
            node.value = node.value[::-1] + "x" if node.value else " "
        elif isinstance(node.value, float):
            node.value = node.value * 2 + 1.0
        else:
            node.value = rng.choice((0, 2, node.value * 2 + 3))
    elif kind == "dropped_branch":
        _replace_statement(tree, node, node.orelse or [ast.Pass()])
    elif kind == "dropped_return":
        node.value = None


def _replace_statement(tree: ast.AST, target: ast.stmt, replacement: list[ast.stmt]) -> None:
    for parent in ast.walk(tree):
        for field_name in ("body", "orelse", "finalbody"):
            block = getattr(parent, field_name, None)
            if isinstance(block, list) and any(item is target for item in block):
                index = next(i for i, item in enumerate(block) if item is target)
                block[index : index + 1] = replacement
                return


def _syntax_error(source: str, rng: random.Random) -> str:
    lines = source.splitlines()
    candidates = [
        i
        for i, line in enumerate(lines)
        if line.rstrip().endswith(":") and re.match(r"\s+(if|for|while|elif|else)\b", line)
    ]
    if candidates:
        i = rng.choice(candidates)
        lines[i] = lines[i].rstrip()[:-1]
    else:
        closing = [i for i, line in enumerate(lines) if ")" in line and line.startswith(" ")]
        if not closing:
            return source + "\n    return (\n"
        i = rng.choice(closing)
        cut = lines[i].rfind(")")
        lines[i] = lines[i][:cut] + lines[i][cut + 1 :]
    return "\n".join(lines) + "\n"


def _insert_infinite_loop(tree: ast.Module, function: ast.FunctionDef) -> None:
    start = 1 if function.body and _is_docstring(function.body[0]) else 0
    loop = ast.While(test=ast.Constant(True), body=[ast.Pass()], orelse=[])
    function.body.insert(start, loop)
    ast.fix_missing_locations(tree)


def mutate(source: str, entry_point: str, rng: random.Random) -> tuple[str, str]:
    """A realistic wrong version of ``source`` and the mutation's kind."""
    try:
        original = ast.parse(source)
    except SyntaxError:
        return source + "\n    return None\n", "stub"
    original_dump = ast.dump(original)
    kinds = list(MUTATION_WEIGHTS)
    for _ in range(12):
        tree = ast.parse(source)
        function = _entry_function(tree, entry_point) if entry_point else None
        statements = _body_without_docstring(function) if function else tree.body
        sites = _mutation_sites(statements)
        available = [
            kind
            for kind in kinds
            if sites.get(kind) or kind == "syntax_error" or (kind == "infinite_loop" and function)
        ]
        kind = rng.choices(available, weights=[MUTATION_WEIGHTS[k] for k in available])[0]
        if kind == "syntax_error":
            return _syntax_error(source, rng), kind
        if kind == "infinite_loop":
            _insert_infinite_loop(tree, function)
            return ast.unparse(tree) + "\n", kind
        _apply_ast_mutation(kind, rng.choice(sites[kind]), rng, tree)
        if ast.dump(tree) != original_dump:
            return ast.unparse(ast.fix_missing_locations(tree)) + "\n", kind
    return _stub_for(source, entry_point), "stub"


# --------------------------------------------------------------------------- answers
_CODE_INTROS = (
    "Here is a solution to the task.",
    "Below is a complete implementation.",
    "Sure! Here's the program:",
    "This implementation follows the specification.",
)
_CODE_OUTROS = (
    "The function handles the cases described in the docstring.",
    "It runs in a single pass over the input where possible.",
    "Let me know if you need further changes.",
    "",
)


def _code_answer(code: str, rng: random.Random) -> str:
    outro = rng.choice(_CODE_OUTROS)
    return f"{rng.choice(_CODE_INTROS)}\n\n```python\n{code.rstrip()}\n```\n" + (
        f"\n{outro}\n" if outro else ""
    )


_DEF_RE = re.compile(r"def\s+([A-Za-z_]\w*)\s*\(([^)]*)\)")
_CALL_RE = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def _function_name_of(prompt: str) -> tuple[str, str]:
    defs = _DEF_RE.findall(prompt)
    if defs:
        return defs[-1]
    calls = [name for name in _CALL_RE.findall(prompt) if name not in {"assert", "print", "len"}]
    return (calls[0] if calls else "solution"), "*args"


def _stub_for(prompt: str, entry_point: str) -> str:
    name, args = _function_name_of(prompt)
    name = entry_point or name
    if prompt.rstrip().endswith(('"""', "'''")) and f"def {name}" in prompt:
        return prompt.rstrip() + "\n    return None\n"
    return f"def {name}({args}):\n    return None\n"


def _code_request(
    skill: SimSkill, problem: Problem | None, prompt: str, plan: str | None, rng: random.Random
) -> str:
    if problem is None or not problem.reference_solution:
        return _code_answer(_stub_for(prompt, problem.entry_point if problem else ""), rng)
    if rng.random() < p_correct(skill, problem, plan):
        return _code_answer(problem.reference_solution, rng)
    code, _kind = mutate(problem.reference_solution, problem.entry_point, rng)
    return _code_answer(code, rng)


_GOOD_PLAN_STEPS = (
    "Write a helper `{h1}(...)` that validates and normalises the input (empty and "
    "single-element cases first).",
    "Write a helper `{h2}(...)` that computes the core quantity for one element.",
    "Iterate over the input, calling `{h2}` and collecting the intermediate results.",
    "Handle the boundary conditions explicitly: inclusive vs exclusive bounds, off-by-one "
    "indices, and negative values.",
    "Combine the collected results into the value `{entry}` must return, in the right type "
    "and order.",
    "Check the plan against every example in the docstring, and against the failing test.",
)
_VAGUE_PLAN_STEPS = (
    "Loop over the input and compute the answer.",
    "Return the result.",
)


def _plan_answer(
    skill: SimSkill, problem: Problem | None, prompt: str, rng: random.Random
) -> str:
    name = problem.entry_point if problem and problem.entry_point else _function_name_of(prompt)[0]
    hardness = difficulty(problem) if problem else 0.5
    detailed = rng.random() < _sigmoid(skill.plan_logit - DIFFICULTY_SLOPE * (hardness - 0.5))
    if detailed:
        steps = _GOOD_PLAN_STEPS[: rng.choice((5, 6))]
    else:
        steps = _VAGUE_PLAN_STEPS
    helpers = {"h1": f"_prepare_{name}_input", "h2": f"_{name}_step", "entry": name}
    numbered = "\n".join(f"{i}. {step.format(**helpers)}" for i, step in enumerate(steps, 1))
    return f"The previous attempt failed its tests. Here is a plan for `{name}`:\n\n{numbered}\n"


_DOCTEST_RE = re.compile(r">>>\s*(.+?)\n\s*([^\n>][^\n]*)")


def _tests_answer(
    skill: SimSkill, problem: Problem | None, prompt: str, rng: random.Random
) -> str:
    asserts: list[str] = []
    public = problem.public_tests if problem else None
    if public is not None and getattr(public, "kind", "") == "asserts":
        asserts = [line.strip() for line in public.asserts]
    if not asserts:
        for call, expected in _DOCTEST_RE.findall(prompt):
            asserts.append(f"assert {call.strip()} == {expected.strip()}")
    name = problem.entry_point if problem and problem.entry_point else _function_name_of(prompt)[0]
    if not asserts:
        asserts = [f"assert callable({name})"]
    written = []
    for line in asserts[:8]:
        if rng.random() > skill.tests_accuracy and "==" in line:
            left, _, right = line.rpartition("==")
            line = f"{left}!= {right.strip()}"
        written.append(line)
    return f"Here are tests for `{name}`:\n\n```python\n" + "\n".join(written) + "\n```\n"


def _rng_for(model_name: str, seed: int | None, messages: Sequence) -> random.Random:
    payload = json.dumps([model_name, seed, [list(m) for m in messages]], ensure_ascii=False)
    return random.Random(int.from_bytes(hashlib.sha256(payload.encode()).digest()[:8], "big"))


def skill_of(model_name: str) -> SimSkill:
    """The skill of 'small', 'sim/small' or 'sim-small'."""
    name = model_name.split("/")[-1]
    name = name[4:] if name.startswith("sim-") else name
    skill = SKILLS.get(name)
    if skill is None:
        known = ", ".join(f"sim/{k}" for k in SKILLS)
        raise UnknownSimModel(f"unknown simulated model {model_name!r}; known: {known}")
    return skill


def _as_pairs(messages: Sequence) -> tuple[tuple[str, str], ...]:
    pairs = []
    for message in messages:
        if isinstance(message, dict):
            pairs.append((str(message.get("role", "")), str(message.get("content") or "")))
        else:
            role, content = message
            pairs.append((str(role), str(content)))
    return tuple(pairs)


def simulate(model_name: str, messages: Sequence, seed: int | None = 0) -> str:
    """The simulated model's answer text (before any ``max_tokens`` cut)."""
    skill = skill_of(model_name)
    pairs = _as_pairs(messages)
    rng = _rng_for(skill.name, seed, pairs)
    purpose = request_purpose(pairs)
    prompt = task_prompt_of(pairs) or "\n".join(c for r, c in pairs if r == "user")
    problem = find_problem(pairs)
    if purpose == "plan":
        return _plan_answer(skill, problem, prompt, rng)
    if purpose == "tests":
        return _tests_answer(skill, problem, prompt, rng)
    plan = None
    if purpose == "implement":
        user = next((c for r, c in pairs if r == "user"), "")
        plan = user.split("### Plan\n", 1)[1] if "### Plan\n" in user else ""
    return _code_request(skill, problem, prompt, plan, rng)


# --------------------------------------------------------------------------- tokens
def count_input_tokens(messages: Sequence) -> int:
    pairs = _as_pairs(messages)
    return int(litellm.token_counter(messages=[{"role": r, "content": c} for r, c in pairs]))


def count_text_tokens(text: str) -> int:
    return int(litellm.token_counter(text=text, count_response_tokens=True))


def _cut_to_tokens(text: str, max_tokens: int) -> str:
    from litellm.litellm_core_utils.default_encoding import encoding

    tokens = encoding.encode(text, disallowed_special=())
    return encoding.decode(tokens[:max_tokens])


@dataclass(frozen=True)
class SimResponse:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str  # "stop" | "length"


def respond(
    model_name: str, messages: Sequence, seed: int | None = 0, max_tokens: int | None = None
) -> SimResponse:
    """The full simulated response with usage, as both the in-process and HTTP paths return."""
    text = simulate(model_name, messages, seed)
    output_tokens = count_text_tokens(text)
    finish_reason = "stop"
    if max_tokens is not None and max_tokens > 0 and output_tokens > max_tokens:
        text = _cut_to_tokens(text, max_tokens)
        output_tokens, finish_reason = count_text_tokens(text), "length"
    return SimResponse(text, count_input_tokens(messages), output_tokens, finish_reason)


# --------------------------------------------------------------------------- litellm provider
class SimProvider(CustomLLM):
    """litellm custom provider ``sim``: ``model="sim/small"`` reaches ``respond("small", ...)``."""

    def _response(self, model: str, messages: list, optional_params: dict):
        try:
            answer = respond(
                model,
                messages,
                seed=optional_params.get("seed", 0),
                max_tokens=optional_params.get("max_tokens"),
            )
        except UnknownSimModel as error:
            raise CustomLLMError(status_code=404, message=str(error)) from None
        return litellm.ModelResponse(
            model=f"{PROVIDER}/{model}",
            choices=[
                {
                    "index": 0,
                    "finish_reason": answer.finish_reason,
                    "message": {"role": "assistant", "content": answer.text},
                }
            ],
            usage={
                "prompt_tokens": answer.input_tokens,
                "completion_tokens": answer.output_tokens,
                "total_tokens": answer.input_tokens + answer.output_tokens,
            },
        )

    def completion(self, model, messages, api_base, custom_prompt_dict, model_response,
                   print_verbose, encoding, api_key, logging_obj, optional_params,
                   acompletion=None, litellm_params=None, logger_fn=None, headers={},
                   timeout=None, client=None):  # fmt: skip
        return self._response(model, messages, optional_params)

    async def acompletion(self, model, messages, api_base, custom_prompt_dict, model_response,
                          print_verbose, encoding, api_key, logging_obj, optional_params,
                          acompletion=None, litellm_params=None, logger_fn=None, headers={},
                          timeout=None, client=None):  # fmt: skip
        return self._response(model, messages, optional_params)


_PROVIDER_INSTANCE = SimProvider()


def register_sim_provider() -> None:
    """Idempotent: make ``sim/<name>`` resolvable by litellm in this process."""
    if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map.append(
            {"provider": PROVIDER, "custom_handler": _PROVIDER_INSTANCE}
        )


register_sim_provider()
