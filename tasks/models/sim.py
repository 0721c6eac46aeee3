"""Simulated models ``sim/<name>``: a deterministic stand-in for an LLM, for dry runs and tests.

The simulator answers every request kind the policies send (``tasks.prompts``): code
(``generate``/``implement``/``repair``), plans and tests. ``tasks.models.sim_provider`` registers
it as a litellm custom provider, so ``litellm.acompletion(model="sim/small", ...)`` and the
client's real code path reach it in-process; ``patflow sim serve`` serves the same function over OpenAI-compatible HTTP
as ``sim-small`` / ``sim-large``.

How an answer is made (a fixed function of model, seed and messages; temperature is ignored):
- The problem is recognised by its prompt text (``task_prompt_of``) among the problems made
  known with ``register_problems`` (process-global). An unknown problem gets a plausible but
  wrong stub: the right function name, returning None.
- Code answers are the problem's ``reference_solution`` or a mutation of it (wrong comparison
  or arithmetic operator, off-by-one, wrong constant, dropped branch or return value, ``and``
  and ``or`` swapped, a syntax error, an inserted ``while True: pass``). Every AST mutation is checked to change the
  AST. P(correct) = sigmoid(skill - 3 * (difficulty - 0.5) + plan bonus), where difficulty in
  [0, 1] grows with the log of the reference solution's AST size, the plan bonus (implement
  requests only) grows with the plan's number of steps (0.72 for a 6-step plan), and a fixed
  per-(model, problem) affinity in [-1.5, 1.5] makes a model's failures on a problem correlated
  across seeds and retries, as with a real model.
- Plans are numbered steps naming helper functions; a stronger planner (and an easier problem)
  more often writes a detailed 5-6 step plan, a weak one a vague 2-step plan. So plan quality
  travels in the text itself, as it would with a real model.
- Tests are a block of asserts from the public tests (assert lists, or call inputs with expected
  outputs) or the docstring's ``>>>`` examples; a weak model sometimes gets one wrong.
- Usage is counted (``tasks.models.sim_tokens``) with litellm's default tokenizer (tiktoken
  ``cl100k_base`` from the files bundled in litellm's wheel, so offline) over the real request
  messages (with OpenAI's chat overhead, as ``litellm.token_counter`` counts) and the answer
  text; answers longer than ``max_tokens`` are cut, like a real model's ``finish_reason="length"``.
- What is a pure function of a text (token counts, a reference's difficulty and AST, a renamed
  helper) is remembered in bounded caches: the simulator stands in for a provider, whose
  compute a sweep does not pay.

The skills and prices are a simulator's: they say nothing about any real model. This module
does not import litellm, so ``patflow sim serve`` starts in well under a second.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import random
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tasks.models import sim_tree
from tasks.models.sim_tokens import count_chat_tokens, count_text_tokens, cut_to_tokens
from tasks.prompts import kind_of_messages
from tasks.records import Problem


@dataclass(frozen=True)
class SimSkill:
    name: str
    code_logit: float  # log-odds of a correct program at difficulty 0.5 without a plan
    plan_logit: float  # log-odds of a detailed plan at difficulty 0.5
    tests_accuracy: float  # P(each written assert is right)


SKILLS: dict[str, SimSkill] = {
    "small": SimSkill("small", code_logit=0.4, plan_logit=-0.5, tests_accuracy=0.8),
    "medium": SimSkill("medium", code_logit=1.0, plan_logit=0.8, tests_accuracy=0.9),
    "large": SimSkill("large", code_logit=2.0, plan_logit=2.0, tests_accuracy=0.97),
}

DIFFICULTY_SLOPE = 3.0
PLAN_BONUS_PER_STEP = 0.12  # logit bonus per numbered plan step, capped at 6 steps
# A model's affinity for a problem, fixed across seeds and request kinds: a problem a model gets
# wrong once it tends to get wrong again (so retries are correlated, as with real models).
AFFINITY_SPREAD = 1.5  # logit offset, uniform in [-spread, +spread] per (model, problem)
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
            _BY_TASK[(problem.dataset.name, problem.task_id)] = problem
            _BY_TASK[("", problem.task_id)] = problem
        return len(_PROBLEMS)


def clear_problems() -> None:
    with _PROBLEMS_LOCK:
        _PROBLEMS.clear()
        _BY_TASK.clear()


_FIRST_BLOCK = re.compile(r"```python\n(.*?)\n```", re.DOTALL)
_BY_TASK: dict[tuple[str, str], Problem] = {}


def find_problem(messages: Sequence, task_id: str = "", dataset: str = "") -> Problem | None:
    """The problem a request is about: by task id when the request carries it, else by the
    prompt text in the last user message (the HTTP path, where nothing else travels)."""
    if task_id:
        with _PROBLEMS_LOCK:
            found = _BY_TASK.get((dataset, task_id)) or _BY_TASK.get(("", task_id))
        if found is not None:
            return found
    for role, content in reversed(list(messages)):
        if role != "user":
            continue
        for block in _FIRST_BLOCK.findall(content) or [content]:
            found = _PROBLEMS.get(_normalise_prompt(block))
            if found is not None:
                return found
        break
    return None


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
    return _difficulty_of(problem.reference_solution or "", problem.entry_point)


@functools.lru_cache(maxsize=4096)  # asked on every code answer; a problem's text does not change
def _difficulty_of(source: str, entry_point: str) -> float:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return 0.5
    function = _entry_function(tree, entry_point) if entry_point else None
    statements = _body_without_docstring(function) if function else tree.body
    nodes = sum(1 for statement in statements for _ in ast.walk(statement))
    return min(1.0, max(0.0, math.log(max(nodes, 1) / 10) / math.log(20)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def plan_steps(plan_text: str) -> int:
    return len(re.findall(r"(?m)^\s*\d+[.)]\s+\S", plan_text))


def affinity(skill: SimSkill, problem: Problem) -> float:
    digest = hashlib.sha256(f"{skill.name}\0{problem.task_id}\0{problem.prompt}".encode()).digest()
    return AFFINITY_SPREAD * (2 * int.from_bytes(digest[:8], "big") / 2**64 - 1)


def p_correct(skill: SimSkill, problem: Problem, plan_text: str | None = None) -> float:
    logit = skill.code_logit - DIFFICULTY_SLOPE * (difficulty(problem) - 0.5)
    logit += affinity(skill, problem)
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


@functools.lru_cache(maxsize=1024)  # the same reference solutions are mutated on every wrong answer
def _tree_dump(source: str) -> str | None:
    try:
        return ast.dump(ast.parse(source))
    except SyntaxError:
        return None


def mutate(source: str, entry_point: str, rng: random.Random) -> tuple[str, str]:
    """A realistic wrong version of ``source`` and the mutation's kind."""
    original_dump = _tree_dump(source)
    if original_dump is None:
        return source + "\n    return None\n", "stub"
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
    elif public is not None and getattr(public, "kind", "") == "call" and public.expected:
        for args, result in zip(public.inputs, public.expected):
            call_args = ", ".join(repr(arg) for arg in args)
            asserts.append(f"assert {public.entry_point}({call_args}) == {result!r}")
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


def request_facts(messages: Sequence, metadata: dict | None) -> dict[str, str]:
    """The request kind, task and target: from the request's metadata where the path carries
    it (in-process litellm), else recognised from the template's system message (HTTP)."""
    facts = {str(k): str(v) for k, v in (metadata or {}).items()}
    if not facts.get("kind"):
        facts["kind"] = kind_of_messages(_as_pairs(messages)) or "generate"
    return facts


def simulate(
    model_name: str, messages: Sequence, seed: int | None = 0, metadata: dict | None = None
) -> str:
    """The simulated model's answer text (before any ``max_tokens`` cut)."""
    skill = skill_of(model_name)
    pairs = _as_pairs(messages)
    rng = _rng_for(skill.name, seed, pairs)
    facts = request_facts(pairs, metadata)
    problem = find_problem(pairs, facts.get("task_id", ""), facts.get("dataset", ""))
    prompt = problem.prompt if problem else "\n".join(c for r, c in pairs if r == "user")
    answer = ANSWERS.get(facts["kind"], _answer_code)
    return answer(skill, problem, prompt, facts, rng)


def _answer_code(skill, problem, prompt, facts, rng) -> str:
    target = facts.get("target", "")
    if problem is not None and target and target != problem.entry_point:
        return _helper_code(skill, problem, target, rng)
    return _code_request(skill, problem, prompt, None, rng)


def _helper_code(skill, problem, target, rng) -> str:
    source = sim_tree.lifted_source(problem, target)
    if source is None:
        return _code_answer(f"def {target}(*args):\n    return None\n", rng)
    p = _sigmoid(math.log(p_correct(skill, problem) / (1 - p_correct(skill, problem) + 1e-12))
                 + sim_tree.HELPER_BONUS)  # fmt: skip
    if rng.random() < p:
        return _code_answer(source, rng)
    return _code_answer(mutate(source, target, rng)[0], rng)


def _answer_tests(skill, problem, prompt, facts, rng) -> str:
    target = facts.get("target", "") or (problem.entry_point if problem else "")
    if problem is None or not target:
        return _tests_answer(skill, problem, prompt, rng)
    lines = sim_tree.written_tests(problem, target, skill.tests_accuracy, rng)
    return f"Here are tests for `{target}`:\n\n```python\n" + "\n".join(lines) + "\n```\n"


def _answer_decomposition(skill, problem, prompt, facts, rng) -> str:
    target = facts.get("target", "") or (problem.entry_point if problem else "")
    hardness = difficulty(problem) if problem else 0.5
    good = rng.random() < _sigmoid(skill.plan_logit - DIFFICULTY_SLOPE * (hardness - 0.5))
    code = sim_tree.decomposition(problem, target, good, rng) if problem else None
    if code is None:
        return "I could not decompose this function."
    return f"The function is split into a helper that does the core work.\n\n```python\n{code}```\n"


ANSWERS = {"generate": _answer_code, "write_tests": _answer_tests, "decompose": _answer_decomposition}
"""Request kind -> answer(skill, problem, prompt, facts, rng); unknown kinds get code."""


def _register_more_answers() -> None:
    from tasks.models import sim_baselines  # repair, divide, conquer (self_debug, funcoder)

    sim_baselines.register(ANSWERS)


def count_input_tokens(messages: Sequence) -> int:
    """Prompt tokens of a chat request: each message's role and content plus format overhead."""
    return count_chat_tokens(_as_pairs(messages))


@dataclass(frozen=True)
class SimResponse:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str  # "stop" | "length"


def respond(
    model_name: str,
    messages: Sequence,
    seed: int | None = 0,
    max_tokens: int | None = None,
    metadata: dict | None = None,
) -> SimResponse:
    """The full simulated response with usage, as both the in-process and HTTP paths return."""
    text = simulate(model_name, messages, seed, metadata)
    output_tokens = count_text_tokens(text)
    finish_reason = "stop"
    if max_tokens is not None and max_tokens > 0 and output_tokens > max_tokens:
        text = cut_to_tokens(text, max_tokens)
        output_tokens, finish_reason = count_text_tokens(text), "length"
    return SimResponse(text, count_input_tokens(messages), output_tokens, finish_reason)


_register_more_answers()
