"""The nouns of patflow: small frozen records that cross module boundaries.

Benchmarks produce ``Problem``s; the model layer takes ``ModelConfig`` + ``ModelRequest`` and
returns ``Completion``; verification turns a program and a ``TestSpec`` into a ``Verdict``;
a policy run appends ``ModelCallEvent``s and ``VerificationEvent``s and ends in one
``Outcome``. Storage writes these as Arrow tables (see ``tasks/storage``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.types import TestSpec


# --------------------------------------------------------------------------- benchmarks
@dataclass(frozen=True)
class DatasetInfo:
    name: str  # e.g. "humaneval", "mbpp+", or the file stem of a custom dataset
    version: str  # upstream version, e.g. "1.0.3", "v0.2.0"
    content_sha256: str  # sha256 of the file the problems were read from


@dataclass(frozen=True)
class HiddenSuite:
    """One named set of hidden tests, scored separately (e.g. "base" and "plus")."""

    name: str
    tests: TestSpec
    time_limits_s: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str  # what the model is shown: signature + docstring, or a statement
    entry_point: str  # function name; "" for stdin/stdout programs
    # What a policy may verify against (docstring examples, the first MBPP assert...).
    public_tests: TestSpec | None
    hidden_suites: tuple[HiddenSuite, ...]  # only ever used for the final score
    reference_solution: str | None  # a full program, if the dataset has one
    test_format: str  # "check_function" | "asserts" | "call" | "stdio"
    dataset: DatasetInfo
    # The candidate program is prompt + completion for HumanEval-style "completion" samples.
    completion_prefix: str = ""
    time_limit_s: float = 5.0  # default per-test limit when the suite has none
    # Per-test limits of the public tests (from the reference's runtime where it was measured).
    public_time_limits_s: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Benchmark:
    info: DatasetInfo
    problems: tuple[Problem, ...]


# --------------------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelConfig:
    """How to reach one model. Never holds a secret: ``api_key_env`` names a variable."""

    model: str  # litellm model string: "sim/small", "openai/gpt-4o-mini", "ollama/llama3"
    api_base: str | None = None
    api_key_env: str | None = None
    max_concurrency: int = 16
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    timeout_s: float = 120.0
    max_retries: int = 6
    input_usd_per_mtok: float | None = None  # override litellm's price map
    output_usd_per_mtok: float | None = None
    cost_weight: float | None = None  # paper's relative cost: e.g. parameters in billions

    @property
    def cache_identity(self) -> str:
        """What names the model for the response cache: two servers may serve one model name."""
        return self.model if not self.api_base else f"{self.model}@{self.api_base.rstrip('/')}"


@dataclass(frozen=True)
class ModelRequest:
    messages: tuple[tuple[str, str], ...]  # (role, content)
    temperature: float = 0.0
    max_tokens: int = 1024
    seed: int = 0
    sample_index: int = 0
    purpose: str = "generate"  # the request kind: generate | write_tests | decompose | repair ...
    # Facts about the request for a simulator (kind, task, target function); not in the cache
    # key: a real model sees only the messages, and the kind and target are in them already.
    metadata: tuple[tuple[str, str], ...] = ()

    def cache_key(self, model: str) -> str:
        """Hash of what changes the output; timeouts, retries and concurrency do not."""
        payload = json.dumps(
            [model, self.messages, self.temperature, self.max_tokens, self.seed, self.sample_index],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    cached: bool = False
    cost_usd: float = 0.0
    error: str | None = None  # set when the call failed after all retries; text is ""
    attempts: int = 1


# --------------------------------------------------------------------------- policies
MODEL_PARAMS = ("generator", "planner")  # policy parameters that name a model, not a behaviour


@dataclass(frozen=True)
class PolicySpec:
    name: str
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, key: str, default: Any) -> Any:
        return dict(self.params).get(key, default)

    @property
    def label(self) -> str:
        """The name, plus any parameters other than the models (which rows carry in their own
        columns): ``pat`` and ``pat:max_plans=1`` are different rows of every comparison."""
        rest = [f"{key}={value}" for key, value in self.params if key not in MODEL_PARAMS]
        return self.name + (":" + ",".join(rest) if rest else "")

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "params": dict(self.params)}, sort_keys=True)


@dataclass(frozen=True)
class Verdict:
    """A program checked against one test suite."""

    passed: bool
    status: str  # sandbox status of the first non-passing test, or "passed" / "no_tests"
    tests_total: int
    tests_passed: int
    first_failure: str = ""  # detail of the first failing test, truncated
    duration_ms: float = 0.0
    test_statuses: tuple[str, ...] = ()  # per test, in order (CodeT builds pass sets from it)


@dataclass(frozen=True)
class ModelCallEvent:
    step: int
    phase: str  # the policy phase that made the call
    role: str  # "generator" | "planner"
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    cached: bool
    error: str | None
    request_sha256: str  # the cache key of the request
    response_text: str
    cost_weight: float | None = None  # the model's relative-cost weight (paper's cost metric)
    attempts: int = 1
    # Where in a policy's tree the call was made (tree policies: PaT, FunCoder; others: "root").
    node_id: str = "root"
    parent_node_id: str | None = None
    depth: int = 0
    attempt: int = 0  # decomposition attempt (PaT), repair round (self_debug), re-ask number
    sample_index: int = 0
    prompt_sha256: str = ""  # sha256 of the prompt template file the request was built from


@dataclass(frozen=True)
class VerificationEvent:
    step: int
    phase: str
    test_source: str  # "public" | "generated" | "both" | "hidden:<suite>" for the final score
    verdict: Verdict
    program_sha256: str
    node_id: str = "root"
    parent_node_id: str | None = None
    depth: int = 0
    attempt: int = 0
    sample_index: int = 0  # which candidate of the action was verified


@dataclass(frozen=True)
class Outcome:
    """One (problem, policy, seed) work item, finished."""

    task_id: str
    policy: str
    seed: int
    passed: bool  # every hidden suite passed
    status: str  # "passed" or the first failing hidden suite's status, or "error:model"
    suites_passed: tuple[tuple[str, bool], ...]  # (suite name, passed)
    final_program: str
    planner_invoked: bool
    replans: int
    model_calls: int
    error: str | None = None
    nodes: int = 1  # nodes of the policy's tree (1 for flat policies)
    max_depth: int = 0
    decompositions: int = 0  # decomposition attempts made, over all nodes
    reverts: int = 0  # decomposition attempts undone by PaT's revert rule
    accepted_unverified: bool = False  # submitted without any test to check it on
    selected_on: str = ""  # test source the submission was selected on: public|generated|both|""
    selected_tests_total: int = 0
    selected_tests_passed: int = 0
    root_trial_passed: bool | None = None  # trial-first policies: the root trial's own verdict
    tree_json: str = ""  # the decomposition tree (JSON) where there was one; "" otherwise
    cost_usd: float = 0.0  # sum of the item's calls' cost_usd
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class WorkItemResult:
    """Everything one (problem, policy, seed) produced; storage turns it into rows."""

    run_id: str
    dataset: DatasetInfo
    task_id: str
    policy: PolicySpec
    generator_model: str
    planner_model: str
    seed: int
    calls: tuple[ModelCallEvent, ...]
    verifications: tuple[VerificationEvent, ...]
    outcome: Outcome
    started_at_s: float  # unix time
    finished_at_s: float


@dataclass(frozen=True)
class RunConfig:
    run_id: str
    benchmark: str
    policies: tuple[PolicySpec, ...]
    generator: ModelConfig
    planner: ModelConfig
    seeds: int = 1
    limit: int | None = None
    store: str = "data/runs"
    chunk_size: int = 16
    data_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Configurations of models that policies name in their parameters (generator=, planner=).
    extra_models: tuple[ModelConfig, ...] = ()
    # Import preamble for every verification of the run: "none" | "standard" (tasks/preamble.py).
    imports: str = "none"

    def __post_init__(self) -> None:
        from tasks.preamble import check_imports_mode

        check_imports_mode(self.imports)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    def config_sha256(self) -> str:
        """Hash of what changes results. Throughput and fault settings (concurrency, rate limits,
        timeouts, retries), the key variable's name, chunking and paths can change between a
        run and its resume."""
        document = asdict(self)
        for name in ("store", "chunk_size"):
            document.pop(name)
        if self.imports == "none":  # the behaviour before the field existed: old runs keep their hash
            document.pop("imports")
        document["extra"] = {k: v for k, v in self.extra.items() if k != "cache_dir"}
        for config in (document["generator"], document["planner"], *document["extra_models"]):
            for name in _THROUGHPUT_FIELDS:
                config.pop(name)
        return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


_THROUGHPUT_FIELDS = (
    "api_key_env", "max_concurrency", "requests_per_minute", "tokens_per_minute", "timeout_s", "max_retries",
)
