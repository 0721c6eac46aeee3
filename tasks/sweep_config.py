"""A sweep as users write it: one YAML file (or the command line's flags) in, one checked
``RunConfig`` out.

```yaml
run_id: paper-comparison
seeds: 1
benchmarks:
  - name: humaneval
  - name: mbpp
    sample: 200          # a seeded sample of N problems (sample_seed: 0); or limit: N, task_ids: ids.txt
    imports: none        # import preamble of verified programs: none (default) | standard
models:                  # named entries: how to reach each model, its prices and limits
  small:
    model: openai/gpt-4o-mini
    api_key_env: OPENAI_API_KEY   # the variable's NAME; the key never goes in a file
    input_usd_per_mtok: 0.15      # override litellm's price map
    estimate_skill: small         # the simulator standing in for it under --estimate
configurations:          # generator x planner pairs
  - {name: small+large, generator: small, planner: large}
policies:
  - {name: pat, params: {max_plans: 3}, configurations: [small+large]}
  - {name: standard, label: standard}
```

Guarantees: ``load_sweep_config`` either returns a ``RunConfig`` or raises ``SweepConfigError``
whose message is one line, ``<file>:<line>: <what was wrong and what was expected>``, before
anything is spent or written: YAML syntax, unknown keys, wrong types, unknown benchmarks,
policies, policy parameters, model providers, entries and configurations, task ids not in the
benchmark, duplicate labels. ``check_reachable`` adds what needs the outside world (API-key
variables set, ``api_base`` answering a short HTTP probe, the store writable — for an ``s3://`` store: AWS
credentials set, the endpoint answering, the bucket there); ``--estimate``
skips it, so an estimate never touches a real endpoint. ``config_from_flags`` builds the same
document from the command line's options, so a flag run and its YAML twin hash alike.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from tasks.records import (
    IMPORT_PREAMBLES,
    MODEL_PARAMS,
    BenchmarkSelection,
    ModelConfig,
    ModelConfiguration,
    PolicySpec,
    PolicyVariant,
    Problem,
    RunConfig,
    SandboxSettings,
)
from tasks.storage.location import is_object_store, object_store_problem

COMMAND_LINE = "command line"
SIM_SKILLS = ("small", "medium", "large")
PROBE_TIMEOUT_S = 3.0
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+/:=,-]{0,99}$")
_SECRET_LOOKING_KEYS = {"api_key", "key", "token", "secret", "password"}


class SweepConfigError(ValueError):
    """Bad sweep input: one line naming the file, the line and what was expected."""


# --------------------------------------------------------------------------- located YAML
@dataclass
class Node:
    """A YAML value with the line it started on (1-based; 0 for the command line)."""

    value: Any  # dict[str, Node] | list[Node] | scalar
    line: int


def _where(source: str, line: int) -> str:
    return f"{source}:{line}" if line else source


def _to_node(node: yaml.Node, source: str) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if not isinstance(key_node, yaml.ScalarNode):
                raise SweepConfigError(f"{_where(source, key_node.start_mark.line + 1)}: expected a plain key")
            if key in mapping:
                raise SweepConfigError(f"{_where(source, key_node.start_mark.line + 1)}: duplicate key '{key}'")
            mapping[key] = _to_node(value_node, source)
        return Node(mapping, line)
    if isinstance(node, yaml.SequenceNode):
        return Node([_to_node(item, source) for item in node.value], line)
    return Node(yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value, line)


def _from_plain(value: Any, line: int = 0) -> Node:
    """A flag-built document (plain dicts and lists) as nodes without lines."""
    if isinstance(value, dict):
        return Node({key: _from_plain(item, line) for key, item in value.items()}, line)
    if isinstance(value, list):
        return Node([_from_plain(item, line) for item in value], line)
    return Node(value, line)


def parse_yaml(text: str, source: str) -> Node:
    try:
        composed = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        context = ""
        if error.context and error.context_mark and error.context_mark.line + 1 != line:
            context = f"; {error.context} started at line {error.context_mark.line + 1}"
        raise SweepConfigError(f"{source}:{line}: not valid YAML ({error.problem or error.context}{context})") from None
    except yaml.YAMLError as error:
        raise SweepConfigError(f"{source}:1: not valid YAML ({str(error).splitlines()[0]})") from None
    if composed is None:
        raise SweepConfigError(f"{source}:1: empty config (expected a mapping with 'benchmarks', 'policies', ...)")
    return _to_node(composed, source)


class _Reader:
    """Typed access to located nodes; every failure names the source and the line."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, node: Node | int, message: str) -> SweepConfigError:
        line = node.line if isinstance(node, Node) else node
        return SweepConfigError(f"{_where(self.source, line)}: {message}")

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        if not isinstance(node.value, dict):
            raise self.fail(node, f"{what}: expected a mapping of {', '.join(allowed)}")
        for key, value in node.value.items():
            if key in _SECRET_LOOKING_KEYS:
                raise self.fail(value, f"{what}: '{key}' looks like a secret; put it in an environment variable and name it with api_key_env")
            if key not in allowed:
                raise self.fail(value, f"{what}: unknown key '{key}' (expected one of {', '.join(allowed)})")
        return node.value

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node.value, list):
            raise self.fail(node, f"{what}: expected a list")
        return node.value

    def named_entries(self, node: Node, plural: str, what: str, allowed: tuple[str, ...],
                      name_hint: str = "") -> list[tuple[Node, dict[str, Node]]]:  # fmt: skip
        """A non-empty list of mappings with a 'name' (a bare string is shorthand for the name):
        each item's node and mapping."""
        items = self.sequence(node, plural)
        if not items:
            raise self.fail(node, f"{plural}: expected at least one {what}")
        entries = []
        for item in items:
            entry = self.mapping(item if isinstance(item.value, dict) else Node({"name": item}, item.line),
                                 what, allowed)  # fmt: skip
            if "name" not in entry:
                raise self.fail(item, f"{what}: missing 'name'{name_hint}")
            entries.append((item, entry))
        return entries

    def scalar(self, node: Node | None, what: str, kind: type | tuple, default: Any = None, *,
               minimum: float | None = None, choices: tuple[str, ...] = ()) -> Any:  # fmt: skip
        if node is None or node.value is None:
            return default
        value = node.value
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds).replace("str", "string").replace("int", "integer")
            raise self.fail(node, f"{what}: expected {names}, got {value!r}")
        if choices and value not in choices:
            raise self.fail(node, f"{what}: expected one of {', '.join(choices)}, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(node, f"{what}: expected at least {minimum:g}, got {value!r}")
        return value

    def name(self, node: Node, what: str) -> str:
        value = self.scalar(node, what, str)
        if value is None or not NAME_PATTERN.match(value):
            raise self.fail(node, f"{what}: expected a name of letters, digits and . _ + / : = , - (got {value!r})")
        return value


# --------------------------------------------------------------------------- the document
TOP_KEYS = (
    "run_id", "store", "seeds", "benchmarks", "models", "configurations", "policies", "generation",
    "sandbox", "concurrency", "data_dir", "cache_dir",
)
BENCHMARK_KEYS = ("name", "limit", "task_ids", "sample", "sample_seed", "public_tests", "imports")
MODEL_KEYS = (
    "model", "api_base", "api_key_env", "max_concurrency", "requests_per_minute", "tokens_per_minute",
    "timeout_s", "max_retries", "input_usd_per_mtok", "output_usd_per_mtok", "cost_weight", "estimate_skill",
)
CONFIGURATION_KEYS = ("name", "generator", "planner")
POLICY_KEYS = ("name", "label", "params", "configurations")
GENERATION_KEYS = ("temperature", "max_tokens")
SANDBOX_KEYS = tuple(field.name for field in dataclasses.fields(SandboxSettings))
CONCURRENCY_KEYS = ("chunk_size", "item_concurrency", "verify_concurrency", "workers", "dask_address")
_MODEL_NUMBERS = {
    "max_concurrency": int, "max_retries": int, "requests_per_minute": float, "tokens_per_minute": float,
    "timeout_s": float, "input_usd_per_mtok": float, "output_usd_per_mtok": float, "cost_weight": float,
}


@dataclass(frozen=True)
class ResolveOptions:
    """What the command line adds to a config file (each None = the file's value or default)."""

    store: str | None = None
    run_id: str | None = None
    data_dir: str | None = None
    cache_dir: str | None = None
    workers: int | None = None
    dask_address: str | None = None


def load_sweep_config(path: Path, options: ResolveOptions = ResolveOptions(), *,
                      load_benchmark: Callable | None = None) -> RunConfig:  # fmt: skip
    """Parse and check ``path``; the command line's ``options`` override the file's paths."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepConfigError(f"{source}: no such config file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SweepConfigError(f"{source}: cannot read ({error})") from None
    # Relative paths in the file (store, task-id files, custom benchmarks) are relative to the
    # directory patflow runs in, as on the command line.
    return resolve_document(parse_yaml(text, source), source, options, Path("."), load_benchmark)


def resolve_document(root: Node, source: str, options: ResolveOptions = ResolveOptions(),
                     base_dir: Path = Path("."), load_benchmark: Callable | None = None) -> RunConfig:  # fmt: skip
    """The checked ``RunConfig`` of a located document (from a file or from flags)."""
    if load_benchmark is None:
        from tasks.benchmarks import load_benchmark
    read = _Reader(source)
    top = read.mapping(root, "config", TOP_KEYS)
    for required in ("benchmarks", "policies"):
        if required not in top:
            raise read.fail(root, f"missing '{required}' (expected a list of {required})")

    data_dir = options.data_dir or read.scalar(top.get("data_dir"), "data_dir", str)
    data_dir = str(_path(data_dir, base_dir)) if data_dir else None
    benchmarks = _benchmarks(read, top["benchmarks"], base_dir, data_dir, load_benchmark)
    entries, skills = _model_entries(read, top.get("models"))
    configurations = _configurations(read, top.get("configurations"), entries)
    policies = _policies(read, top["policies"], configurations)

    generation = read.mapping(top["generation"], "generation", GENERATION_KEYS) if "generation" in top else {}
    sandbox = read.mapping(top["sandbox"], "sandbox", SANDBOX_KEYS) if "sandbox" in top else {}
    concurrency = read.mapping(top["concurrency"], "concurrency", CONCURRENCY_KEYS) if "concurrency" in top else {}
    sandbox_settings = SandboxSettings(**{
        field.name: read.scalar(sandbox.get(field.name), f"sandbox.{field.name}", (int, float) if field.type == "float" else int,
                                field.default, minimum=0)
        for field in dataclasses.fields(SandboxSettings)
    })  # fmt: skip
    sandbox_settings = dataclasses.replace(sandbox_settings, default_timeout_s=float(sandbox_settings.default_timeout_s))

    store = options.store or read.scalar(top.get("store"), "store", str, "data/runs")
    if "://" in store and not is_object_store(store):
        raise read.fail(top.get("store") or root, f"store {store!r}: expected a directory or s3://bucket/prefix")
    cache_dir = options.cache_dir or read.scalar(top.get("cache_dir"), "cache_dir", str, "data/cache")
    run_id = options.run_id or read.scalar(top.get("run_id"), "run_id", str) or default_run_id(benchmarks[0].dataset.name)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", run_id):
        raise read.fail(top.get("run_id") or root, f"run_id {run_id!r}: expected letters, digits, '.', '_' or '-'")
    used = {name for variant in policies for name in variant.configurations}
    estimate_skills = tuple(
        (config.model, skills.get(config.model) or default_skill(config.model, configurations))
        for configuration in configurations if configuration.name in used
        for config in (configuration.generator, configuration.planner)
    )  # fmt: skip
    return RunConfig(
        run_id=run_id,
        benchmarks=benchmarks,
        policies=policies,
        configurations=tuple(c for c in configurations if c.name in used),
        seeds=read.scalar(top.get("seeds"), "seeds", int, 1, minimum=1),
        # None: each policy's own temperatures (its declared parameters); a number overrides them all.
        temperature=read.scalar(generation.get("temperature"), "generation.temperature", float, None, minimum=0),
        max_tokens=read.scalar(generation.get("max_tokens"), "generation.max_tokens", int, 1024, minimum=1),
        sandbox=sandbox_settings,
        store=store if is_object_store(store) else str(_path(store, base_dir)),
        data_dir=data_dir,
        cache_dir=str(_path(cache_dir, base_dir)) if cache_dir else None,
        chunk_size=read.scalar(concurrency.get("chunk_size"), "concurrency.chunk_size", int, None, minimum=1),
        item_concurrency=read.scalar(concurrency.get("item_concurrency"), "concurrency.item_concurrency", int, 32, minimum=1),
        verify_concurrency=read.scalar(concurrency.get("verify_concurrency"), "concurrency.verify_concurrency", int, minimum=1),
        workers=options.workers or read.scalar(concurrency.get("workers"), "concurrency.workers", int, minimum=1),
        dask_address=options.dask_address or read.scalar(concurrency.get("dask_address"), "concurrency.dask_address", str),
        estimate_skills=tuple(dict(estimate_skills).items()),
        source=source,
    )


def _path(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base_dir / path).resolve()


def default_run_id(benchmark_name: str) -> str:
    """``<benchmark>-<time>`` with only the characters a run id may hold (``humaneval+`` -> ``humaneval_``)."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(benchmark_name).name.removesuffix(".gz"))
    return f"{stem}-{time.strftime('%Y%m%dT%H%M%S')}"


def default_skill(model: str, configurations) -> str:
    """The simulator standing in for a model under --estimate: a planner anywhere is "large",
    a model only ever generating is "small" (the paper's roles)."""
    return "large" if any(c.planner.model == model for c in configurations) else "small"


def _benchmarks(read: _Reader, node: Node, base_dir: Path, data_dir, load_benchmark) -> tuple[BenchmarkSelection, ...]:
    from tasks.benchmarks import BenchmarkError

    selections = []
    seen: dict[str, int] = {}
    hint = " (a built-in such as humaneval, or a .jsonl path)"
    for item, entry in read.named_entries(node, "benchmarks", "benchmark", BENCHMARK_KEYS, hint):
        name = read.scalar(entry["name"], "benchmark name", str)
        if Path(name).suffix in (".jsonl", ".json", ".gz"):
            name = str(_path(name, base_dir))
        public_tests = read.scalar(entry.get("public_tests"), "public_tests", str, "default", choices=("default", "none"))
        try:
            benchmark = load_benchmark(name, data_dir, public_tests=public_tests)
        except BenchmarkError as error:
            raise read.fail(entry["name"], str(error).splitlines()[0]) from None
        if benchmark.info.name in seen:
            raise read.fail(entry["name"], f"benchmark '{benchmark.info.name}' is listed twice (line {seen[benchmark.info.name]})")
        seen[benchmark.info.name] = entry["name"].line
        task_ids = None
        if "task_ids" in entry:
            task_ids = _task_ids(read, entry["task_ids"], base_dir, benchmark.problems)
        selection = BenchmarkSelection(
            name=name,
            dataset=benchmark.info,
            limit=read.scalar(entry.get("limit"), "limit", int, minimum=1),
            task_ids=task_ids,
            sample=read.scalar(entry.get("sample"), "sample", int, minimum=1),
            sample_seed=read.scalar(entry.get("sample_seed"), "sample_seed", int, 0),
            public_tests=public_tests,
            imports=read.scalar(entry.get("imports"), "imports", str, "none", choices=IMPORT_PREAMBLES),
        )
        available = len(task_ids) if task_ids is not None else len(benchmark.problems)
        if selection.sample is not None and selection.sample > available:
            raise read.fail(entry["sample"], f"sample: {selection.sample} problems asked, the benchmark has {available}")
        chosen = select_problems(selection, benchmark.problems)
        selections.append(dataclasses.replace(selection, problems_selected=len(chosen)))
    return tuple(selections)


def _task_ids(read: _Reader, node: Node, base_dir: Path, problems) -> tuple[str, ...]:
    known = {problem.task_id for problem in problems}
    if isinstance(node.value, list):
        pairs = [(_where(read.source, item.line), str(read.scalar(item, "task id", (str, int)))) for item in node.value]
    else:
        path = _path(read.scalar(node, "task_ids", str), base_dir)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise read.fail(node, f"task_ids: cannot read {path} ({error.strerror or error})") from None
        pairs = [(f"{path}:{number}", line.strip()) for number, line in enumerate(lines, 1)
                 if line.strip() and not line.startswith("#")]  # fmt: skip
    for where, task_id in pairs:
        if task_id not in known:
            raise SweepConfigError(f"{where}: task id '{task_id}' is not in the benchmark")
    if not pairs:
        raise read.fail(node, "task_ids: expected at least one task id")
    return tuple(task_id for _, task_id in pairs)


def select_problems(selection: BenchmarkSelection, problems) -> tuple[Problem, ...]:
    """The subset of ``problems`` a selection names, in the benchmark's order."""
    chosen = list(problems)
    if selection.task_ids is not None:
        wanted = set(selection.task_ids)
        chosen = [p for p in chosen if p.task_id in wanted]
    if selection.sample is not None:
        picked = set(random.Random(selection.sample_seed).sample(range(len(chosen)), selection.sample))
        chosen = [p for index, p in enumerate(chosen) if index in picked]
    if selection.limit is not None:
        chosen = chosen[: selection.limit]
    return tuple(chosen)


def _model_entries(read: _Reader, node: Node | None) -> tuple[dict[str, ModelConfig], dict[str, str]]:
    from tasks.models.providers import ModelNameError, validate_model_name

    entries: dict[str, ModelConfig] = {}
    skills: dict[str, str] = {}
    if node is None:
        return entries, skills
    if not isinstance(node.value, dict):
        raise read.fail(node, "models: expected a mapping of entry name -> {model: <litellm model>, ...}")
    for name, entry_node in node.value.items():
        what = f"models.{name}"
        entry = read.mapping(entry_node, what, MODEL_KEYS)
        if "model" not in entry:
            raise read.fail(entry_node, f"{what}: missing 'model' (a litellm model string, e.g. openai/gpt-4o-mini)")
        model = read.scalar(entry["model"], f"{what}.model", str)
        try:
            validate_model_name(model)
        except ModelNameError as error:
            raise read.fail(entry["model"], str(error)) from None
        settings: dict[str, Any] = {}
        for key, cast in _MODEL_NUMBERS.items():
            value = read.scalar(entry.get(key), f"{what}.{key}", (int, float) if cast is float else int, minimum=0)
            if value is not None:
                settings[key] = cast(value)
        for key in ("api_base", "api_key_env"):
            value = read.scalar(entry.get(key), f"{what}.{key}", str)
            if value is not None:
                settings[key] = value
        if "api_key_env" in settings and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", settings["api_key_env"]):
            raise read.fail(entry["api_key_env"], f"{what}.api_key_env: expected the NAME of an environment variable")
        skill = read.scalar(entry.get("estimate_skill"), f"{what}.estimate_skill", str, choices=SIM_SKILLS)
        config = ModelConfig(model=model, **settings)
        if any(other.model == model and other != config for other in entries.values()):
            raise read.fail(entry["model"], f"{what}: model '{model}' has another entry with different settings"
                            " (rows name models by their model string; use one entry per model)")  # fmt: skip
        entries[name] = config
        if skill:
            skills[model] = skill
    return entries, skills


def _model_ref(read: _Reader, node: Node, what: str, entries: dict[str, ModelConfig]) -> ModelConfig:
    from tasks.models.providers import ModelNameError, validate_model_name

    name = read.scalar(node, what, str)
    if name in entries:
        return entries[name]
    if name is not None and "/" in name:  # a bare litellm model string, defaults for the rest
        try:
            validate_model_name(name)
        except ModelNameError as error:
            raise read.fail(node, str(error)) from None
        entries[name] = ModelConfig(model=name)
        return entries[name]
    known = ", ".join(sorted(entries)) or "none"
    raise read.fail(node, f"{what}: unknown model entry {name!r} (entries: {known}; or a litellm model string)")


def _configurations(read: _Reader, node: Node | None, entries: dict[str, ModelConfig]) -> tuple[ModelConfiguration, ...]:
    if node is None:
        raise SweepConfigError(f"{read.source}: missing 'configurations' (expected a list of {{name, generator, planner}})")
    configurations: dict[str, ModelConfiguration] = {}
    pairs: dict[tuple[str, str], str] = {}
    for item in read.sequence(node, "configurations"):
        entry = read.mapping(item, "configuration", CONFIGURATION_KEYS)
        for key in ("generator", "planner"):
            if key not in entry:
                raise read.fail(item, f"configuration: missing '{key}' (a model entry name)")
        generator = _model_ref(read, entry["generator"], "generator", entries)
        planner = _model_ref(read, entry["planner"], "planner", entries)
        name = read.name(entry["name"], "configuration name") if "name" in entry else \
            f"{entry['generator'].value}+{entry['planner'].value}"  # fmt: skip
        if name in configurations:
            raise read.fail(entry.get("name", item), f"configuration '{name}' is defined twice")
        pair = (generator.model, planner.model)
        if pair in pairs:
            raise read.fail(item, f"configuration '{name}' has the same generator and planner as '{pairs[pair]}'"
                            " (rows would be indistinguishable)")  # fmt: skip
        pairs[pair] = name
        configurations[name] = ModelConfiguration(name, generator, planner)
    if not configurations:
        raise read.fail(node, "configurations: expected at least one {name, generator, planner}")
    return tuple(configurations.values())


def _policies(read: _Reader, node: Node, configurations: tuple[ModelConfiguration, ...]) -> tuple[PolicyVariant, ...]:
    from tasks.policies import build_policy

    known = [c.name for c in configurations]
    variants: list[PolicyVariant] = []
    labels: dict[tuple[str, str], int] = {}
    for item, entry in read.named_entries(node, "policies", "policy", POLICY_KEYS):
        name = read.scalar(entry["name"], "policy name", str)
        params_node = entry.get("params")
        raw: list[tuple[str, Any]] = []
        if params_node is not None and params_node.value is not None:
            if not isinstance(params_node.value, dict):
                raise read.fail(params_node, f"policy '{name}' params: expected a mapping of parameter: value")
            for key, value in params_node.value.items():
                if key in MODEL_PARAMS:
                    raise read.fail(value, f"policy '{name}' params: '{key}' names a model; use 'configurations' instead")
                if isinstance(value.value, (dict, list)):
                    raise read.fail(value, f"policy '{name}' parameter '{key}': expected a single value")
                raw.append((key, value.value))
        label = read.name(entry["label"], "policy label") if "label" in entry else None
        spec = PolicySpec(name=name, params=tuple(sorted(raw, key=lambda kv: kv[0])), custom_label=label)
        try:
            build_policy(spec)
        except ValueError as error:
            at = entry["name"]
            message = str(error).splitlines()[0]
            for key, value in (params_node.value.items() if params_node is not None and params_node.value else ()):
                if f"'{key}'" in message:
                    at = value
            raise read.fail(at, message) from None
        if "configurations" in entry:
            chosen = []
            for ref in read.sequence(entry["configurations"], f"policy '{name}' configurations"):
                ref_name = read.scalar(ref, "configuration name", str)
                if ref_name not in known:
                    raise read.fail(ref, f"policy '{name}': unknown configuration {ref_name!r} (defined: {', '.join(known)})")
                chosen.append(ref_name)
        else:
            chosen = known
        for configuration in chosen:
            key = (spec.label, configuration)
            if key in labels:
                raise read.fail(entry.get("label", entry["name"]),
                                f"two policy variants labelled '{spec.label}' on configuration '{configuration}'"
                                f" (the other is at line {labels[key]}); give one a distinct 'label'")  # fmt: skip
            labels[key] = (entry.get("label") or entry["name"]).line
        variants.append(PolicyVariant(spec, tuple(chosen)))
    return tuple(variants)


# --------------------------------------------------------------------------- flags
def flags_document(
    *, benchmark: str, policies: list[str], generator: str, planner: str, api_base: str | None,
    api_key_env: str | None, max_concurrency: int | None, model_entries: dict[str, dict], seeds: int,
    limit: int | None, run_id: str | None, temperature: float | None, max_tokens: int, chunk_size: int | None,
) -> dict:  # fmt: skip
    """The YAML document the command line's options mean. ``--policy standard:generator=sim/large``
    becomes ``standard`` on its own configuration (that generator with the run's planner)."""
    defaults = {"api_base": api_base, "api_key_env": api_key_env, "max_concurrency": max_concurrency}
    models: dict[str, dict] = {}

    def entry(model: str) -> str:
        if model not in models:
            settings = {key: value for key, value in defaults.items() if value is not None}
            settings.update(model_entries.get(model, {}))
            models[model] = {"model": model, **settings}
        return model

    configurations: dict[str, dict] = {}

    def configuration(generator_model: str, planner_model: str) -> str:
        name = f"{entry(generator_model)}+{entry(planner_model)}"
        configurations.setdefault(name, {"name": name, "generator": generator_model, "planner": planner_model})
        return name

    default_configuration = configuration(generator, planner)
    policy_entries = []
    for text in policies:
        name, params = parse_policy_text(text)
        models_named = {key: str(params.pop(key)) for key in MODEL_PARAMS if key in params}
        chosen = configuration(models_named.get("generator", generator), models_named.get("planner", planner))
        item: dict[str, Any] = {"name": name, "configurations": [chosen]}
        if params:
            item["params"] = params
        policy_entries.append(item)
    document: dict[str, Any] = {
        "benchmarks": [{"name": benchmark, **({"limit": limit} if limit else {})}],
        "models": {name: settings for name, settings in models.items()},
        "configurations": list(configurations.values()),
        "policies": policy_entries,
        "seeds": seeds,
        "generation": {"temperature": temperature, "max_tokens": max_tokens},
        # No chunk_size: automatic (tasks.sweep.automatic_chunk_size).
        "concurrency": {"chunk_size": chunk_size} if chunk_size else {},
    }
    if run_id:
        document["run_id"] = run_id
    del default_configuration
    return document


def parse_policy_text(text: str) -> tuple[str, dict[str, Any]]:
    """``pat`` or ``pat:max_plans=2`` -> (name, params); values as int or float when they look so."""
    from tasks.policies import split_policy_text

    try:
        return split_policy_text(text)
    except ValueError as error:
        raise SweepConfigError(f"{COMMAND_LINE}: --policy {text}: {error}") from None


def config_from_flags(document: dict, options: ResolveOptions = ResolveOptions(), *,
                      load_benchmark: Callable | None = None) -> RunConfig:  # fmt: skip
    return resolve_document(_from_plain(document), COMMAND_LINE, options, Path("."), load_benchmark)


def to_yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False)


# --------------------------------------------------------------------------- the outside world
def check_reachable(config: RunConfig, probe: Callable[[str], str | None] | None = None) -> None:
    """Before a real run: every API-key variable set, every ``api_base`` answering, the store
    writable. Raises ``SweepConfigError`` naming the config file and the model entry's line
    where it can (flag runs: the option)."""
    probe = probe or probe_api_base
    lines = _entry_lines(config.source)
    for model in config.model_configs():
        where = _where(config.source, lines.get(model.model, 0))
        if model.api_key_env and not os.environ.get(model.api_key_env):
            raise SweepConfigError(
                f"{where}: model '{model.model}': environment variable {model.api_key_env} is not set"
                " (expected it to hold the API key)"
            )
        if model.api_base:
            problem = probe(model.api_base)
            if problem:
                raise SweepConfigError(f"{where}: model '{model.model}': api_base {model.api_base} does not answer ({problem})")
    if is_object_store(config.store):  # credentials, endpoint, bucket: before any work starts
        problem = object_store_problem(config.store)
        if problem:
            line = lines.get("store", 0)
            raise SweepConfigError(f"{_where(config.source, line)}: store {config.store} cannot be used ({problem})")
        return
    problem = store_write_problem(Path(config.store))
    if problem:
        line = lines.get("store", 0)
        raise SweepConfigError(f"{_where(config.source, line)}: store {config.store} is not writable ({problem})")


def _entry_lines(source: str) -> dict[str, int]:
    """model string -> line of its ``model:`` key, and the ``store:`` line, in the config file."""
    if source == COMMAND_LINE:
        return {}
    try:
        root = parse_yaml(Path(source).read_text(encoding="utf-8"), source)
    except (OSError, SweepConfigError):
        return {}
    lines: dict[str, int] = {}
    if isinstance(root.value, dict):
        if "store" in root.value:
            lines["store"] = root.value["store"].line
        models = root.value.get("models")
        for entry in (models.value.values() if models and isinstance(models.value, dict) else ()):
            if isinstance(entry.value, dict) and "model" in entry.value:
                lines.setdefault(str(entry.value["model"].value), entry.value["model"].line)
    return lines


def probe_api_base(api_base: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """None if an HTTP server answers at ``api_base`` (any status: 401 and 404 are answers),
    else why not. One GET of ``<api_base>/models``, never a completion."""
    url = api_base.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=timeout_s):
            return None
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as error:
        return str(getattr(error, "reason", error)).replace("\n", " ")


def store_write_problem(store: Path) -> str | None:
    """Why the store could not be written, checked without writing anything; None if it can."""
    existing = store
    while not existing.exists():
        if existing.parent == existing:
            return "no existing parent directory"
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"no write permission on {existing}"
    return None
