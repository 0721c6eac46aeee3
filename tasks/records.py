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
    # A user's name for this variant (a sweep config's ``label:``); None = derived from params.
    custom_label: str | None = None

    def param(self, key: str, default: Any) -> Any:
        return dict(self.params).get(key, default)

    @property
    def label(self) -> str:
        """The user's label, else the name plus any parameters other than the models (which rows
        carry in their own columns): ``pat`` and ``pat:max_plans=1`` are different rows of every
        comparison."""
        if self.custom_label:
            return self.custom_label
        rest = [f"{key}={value}" for key, value in self.params if key not in MODEL_PARAMS]
        return self.name + (":" + ",".join(rest) if rest else "")

    def to_json(self) -> str:
        document: dict[str, Any] = {"name": self.name, "params": dict(self.params)}
        if self.custom_label:  # absent when unset, so unlabelled specs keep their stored JSON
            document["label"] = self.custom_label
        return json.dumps(document, sort_keys=True)


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


# --------------------------------------------------------------------------- sweeps
IMPORT_PREAMBLES = ("standard", "none")  # what a benchmark's programs may import without asking


@dataclass(frozen=True)
class BenchmarkSelection:
    """One benchmark of a sweep and which of its problems run (applied in this order: the
    ``task_ids`` listed, then a seeded ``sample`` of N, then the first ``limit``)."""

    name: str  # built-in name or the resolved path of a custom file
    dataset: DatasetInfo | None = None  # what the name resolved to when the config was checked
    limit: int | None = None
    task_ids: tuple[str, ...] | None = None
    sample: int | None = None
    sample_seed: int = 0
    public_tests: str = "default"  # "default" | "none"
    imports: str = "none"  # import preamble of verified programs: "none" | "standard" (tasks/preamble.py)
    problems_selected: int = 0  # how many problems the subset held when the config was checked


@dataclass(frozen=True)
class ModelConfiguration:
    """A named generator x planner pair: one column group of every comparison."""

    name: str
    generator: ModelConfig
    planner: ModelConfig


@dataclass(frozen=True)
class PolicyVariant:
    """A policy with its parameters (and label), run on the named model configurations."""

    spec: PolicySpec
    configurations: tuple[str, ...]  # names of ModelConfiguration entries


@dataclass(frozen=True)
class SandboxSettings:
    """Limits applied in every verification's child process (see ``sandbox.types.Limits``)."""

    memory_mb: int = 1024
    max_processes: int = 16
    file_size_mb: int = 16
    open_files: int = 64
    output_bytes: int = 64 * 1024
    default_timeout_s: float = 5.0  # per test, where the benchmark gives no limit


@dataclass(frozen=True)
class RunConfig:
    """A whole sweep, resolved and checked once: benchmarks x policy variants x model
    configurations x seeds, and how to run it. Built by ``tasks.sweep_config`` from a YAML file
    or from the command line's flags (the same object and hash either way)."""

    run_id: str
    benchmarks: tuple[BenchmarkSelection, ...]
    policies: tuple[PolicyVariant, ...]
    configurations: tuple[ModelConfiguration, ...]
    seeds: int = 1
    temperature: float | None = None  # None: each policy's own temperatures (its parameters)
    max_tokens: int = 1024
    sandbox: SandboxSettings = SandboxSettings()
    store: str = "data/runs"
    data_dir: str | None = None
    cache_dir: str | None = None  # response cache; None = no cache
    chunk_size: int | None = None  # work items per Prefect task; None = tasks.sweep.automatic_chunk_size
    item_concurrency: int = 32  # work items in flight per chunk
    verify_concurrency: int | None = None  # sandbox runs per worker; None = from the CPU count
    workers: int | None = None  # local Dask worker processes; None = CPU count
    dask_address: str | None = None
    # The simulator skill standing in for each model under --estimate: (model string, skill).
    estimate_skills: tuple[tuple[str, str], ...] = ()
    source: str = "command line"  # the config file it came from

    def configuration(self, name: str) -> ModelConfiguration:
        return next(c for c in self.configurations if c.name == name)

    def model_configs(self) -> tuple[ModelConfig, ...]:
        """Every distinct model of the sweep, in first-use order."""
        seen: dict[str, ModelConfig] = {}
        for configuration in self.configurations:
            for config in (configuration.generator, configuration.planner):
                seen.setdefault(config.model, config)
        return tuple(seen.values())

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    def config_sha256(self) -> str:
        """Hash of what changes results. Throughput and fault settings (concurrency, rate limits,
        timeouts, retries), the key variable's name, names of entries (not stored in any row),
        chunking, paths and the estimate's stand-ins can change between a run and its resume."""
        document = asdict(self)
        for name in _RUN_ONLY_FIELDS:
            document.pop(name)
        for configuration in document["configurations"]:
            configuration.pop("name")
            for role in ("generator", "planner"):
                for name in _THROUGHPUT_FIELDS:
                    configuration[role].pop(name)
        for variant in document["policies"]:
            names = variant.pop("configurations")
            variant["models"] = sorted(
                [self.configuration(n).generator.model, self.configuration(n).planner.model] for n in names
            )
        return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


_RUN_ONLY_FIELDS = (
    "store", "data_dir", "cache_dir", "chunk_size", "item_concurrency", "verify_concurrency", "workers",
    "dask_address", "estimate_skills", "source",
)
_THROUGHPUT_FIELDS = (
    "api_key_env", "max_concurrency", "requests_per_minute", "tokens_per_minute", "timeout_s", "max_retries",
)
