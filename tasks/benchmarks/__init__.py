"""Benchmarks as typed ``Problem`` records with a public/hidden test split.

Public interface:
- ``load_benchmark(name_or_path, data_dir=None, *, public_tests="default") -> Benchmark``:
  a built-in name (``builtin_names()``) or a path to a custom ``.jsonl``/``.jsonl.gz``/``.json``
  file whose format (HumanEval, EvalPlus, MBPP, stdin/stdout, LiveCodeBench) is detected from
  its first record. ``public_tests="none"`` exposes no public tests at all.
- ``builtin_names()``, ``dataset_statuses(data_dir=None)`` (for ``patflow datasets``).
- ``BenchmarkError`` (a ``ValueError``): every bad-input error, one line naming the file, the
  line and what was expected.
- ``UPSTREAM_DATA_BUGS``: task ids whose upstream data is wrong, each with its reason.

Guarantees:
- Hidden test content never enters ``Problem.prompt`` or ``Problem.public_tests``: public
  tests are derived from the prompt (docstring examples, the shown example assert) or from a
  dataset's explicitly public field, and any the reference solution fails are dropped.
- Every ``Problem`` carries ``DatasetInfo(name, version, content_sha256)``; built-ins are read
  only from files with the pinned upstream checksum.
- Expected outputs that need executing reference code are computed in the sandbox once and
  cached per (dataset, content sha256, loader version); later loads take well under 2 s.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tasks.benchmarks.drafts import PUBLIC_TEST_MODES, Draft, assemble
from tasks.benchmarks.evalplus import EVALPLUS_FIELDS, evalplus_drafts
from tasks.benchmarks.humaneval import HUMANEVAL_FIELDS, humaneval_drafts
from tasks.benchmarks.mbpp import MBPP_FIELDS, SANITIZED_FIELDS, mbpp_drafts
from tasks.benchmarks.reference_runs import LOADER_VERSION, read_pickle, sandbox_fingerprint, write_pickle
from tasks.benchmarks.sources import (
    BUILTIN_SOURCES,
    STDIO_DEMO_PATH,
    BenchmarkError,
    BuiltinSource,
    fetch_verified,
    file_sha256,
    locate,
    read_json_records,
    read_text,
    resolve_data_dir,
    user_cache_dir,
)
from tasks.benchmarks.stdio import LIVECODEBENCH_FIELDS, STDIO_FIELDS, livecodebench_drafts, stdio_drafts
from tasks.records import Benchmark, DatasetInfo

__all__ = [
    "BenchmarkError",
    "DatasetStatus",
    "UPSTREAM_DATA_BUGS",
    "builtin_names",
    "dataset_statuses",
    "load_benchmark",
]

STDIO_DEMO = "stdio-demo"
STDIO_DEMO_VERSION = "1"

# Task ids whose upstream data is wrong, with the reason. Reference-solution sweeps expect
# exactly these to fail (none currently: each known bug is worked around where it is handled).
UPSTREAM_DATA_BUGS: dict[str, str] = {}
# Known upstream bugs that patflow works around, listed so docs and tests can name them.
HANDLED_UPSTREAM_QUIRKS: dict[str, str] = {
    "mbpp+:Mbpp/120": "the assertion block uses math.isclose without importing math; patflow "
    "never runs that block (hidden suites are CallTests from base_input/plus_input, the public "
    "test is the prompt's plain example), and a public assert that uses math undeclared gets "
    "'import math' in AssertTests.imports",
    "mbpp+:Mbpp/793": "plus_input is {} instead of a list; read as no plus inputs (the task has "
    "only a 'base' suite)",
    "humaneval:HumanEval/47": "docstring example median([-10, 4, 6, 1000, 10, 20]) -> 15.0 is "
    "wrong (the reference returns 8.0); the example is dropped from the public tests",
    "humaneval:HumanEval/116": "docstring examples contradict the task's own check(); "
    "dropped from the public tests",
}


def builtin_names() -> list[str]:
    return [*BUILTIN_SOURCES, STDIO_DEMO]


def load_benchmark(
    name_or_path: str, data_dir: str | None = None, *, public_tests: str = "default"
) -> Benchmark:
    if public_tests not in PUBLIC_TEST_MODES:
        raise BenchmarkError(
            f"unknown public_tests mode '{public_tests}' (expected one of: {', '.join(PUBLIC_TEST_MODES)})"
        )
    key = str(name_or_path).strip()
    if key.lower() in BUILTIN_SOURCES:
        return _load_builtin(BUILTIN_SOURCES[key.lower()], data_dir, public_tests)
    if key.lower() == STDIO_DEMO:
        info = DatasetInfo(STDIO_DEMO, STDIO_DEMO_VERSION, file_sha256(STDIO_DEMO_PATH))
        return _load_file(STDIO_DEMO_PATH, info, public_tests, forced_format="stdio")
    path = Path(key).expanduser()
    if not path.is_file():
        if path.suffix or os.sep in key:
            raise BenchmarkError(f"{path}: file not found (expected a .jsonl benchmark file)")
        raise BenchmarkError(
            f"unknown benchmark '{key}' (built-ins: {', '.join(builtin_names())}; or a path to a .jsonl file)"
        )
    info = DatasetInfo(_stem(path), "custom", file_sha256(path))
    return _load_file(path, info, public_tests)


def _load_builtin(source: BuiltinSource, data_dir: str | None, public_mode: str) -> Benchmark:
    path, sha256 = fetch_verified(source, data_dir)
    info = DatasetInfo(source.name, source.version, sha256)
    format_name = {
        "humaneval": "humaneval",
        "mbpp": "mbpp",
        "mbpp-sanitized": "mbpp-sanitized",
    }.get(source.name, "evalplus")
    benchmark = _load_file(path, info, public_mode, forced_format=format_name)
    if len(benchmark.problems) != source.records:
        raise BenchmarkError(
            f"{path}: expected {source.records} problems for {source.name}, parsed {len(benchmark.problems)}"
        )
    return benchmark


def _load_file(path: Path, info: DatasetInfo, public_mode: str, forced_format: str | None = None) -> Benchmark:
    """Parsed benchmark, from the cache when this exact content was parsed before."""
    cache_path = (
        user_cache_dir() / "benchmarks"
        / f"benchmark-{_safe_name(info.name)}-{info.content_sha256[:24]}-{public_mode}"
        f"-v{LOADER_VERSION}-{sandbox_fingerprint()}.pkl"
    )
    cached = read_pickle(cache_path)
    if isinstance(cached, Benchmark) and cached.info == info:
        return cached
    with warnings.catch_warnings():
        # upstream code and asserts hold invalid escapes ('\w'); parsing them is not our warning
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
        benchmark = _parse_file(path, info, public_mode, forced_format)
    write_pickle(cache_path, benchmark)
    return benchmark


def _safe_name(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in name)[:40]


def _parse_file(path: Path, info: DatasetInfo, public_mode: str, forced_format: str | None) -> Benchmark:
    records = list(read_json_records(path))
    if not records:
        raise BenchmarkError(f"{path}: no records (expected one JSON object per line)")
    format_name = forced_format or detect_format(path, *records[0])
    if format_name == "humaneval":
        drafts = humaneval_drafts(path, records, info, public_mode)
    elif format_name == "evalplus":
        drafts = evalplus_drafts(path, records, info, public_mode)
    elif format_name in ("mbpp", "mbpp-sanitized"):
        drafts = mbpp_drafts(path, records, info, public_mode, sanitized=format_name == "mbpp-sanitized")
    elif format_name == "stdio":
        drafts = stdio_drafts(path, records, info, public_mode)
    else:
        drafts, _skipped = livecodebench_drafts(path, records, info, public_mode)
        if not drafts:
            raise BenchmarkError(
                f"{path}: no LiveCodeBench row has stdin tests (functional tests are not supported)"
            )
    _reject_duplicates(path, drafts)
    problems = assemble(f"{info.name}:{info.content_sha256}", drafts)
    return Benchmark(info=info, problems=tuple(problems))


_FORMATS = (
    ("livecodebench", "LiveCodeBench", LIVECODEBENCH_FIELDS, ("question_content",)),
    ("evalplus", "EvalPlus", EVALPLUS_FIELDS, ("base_input", "plus_input")),
    ("stdio", "stdin/stdout", STDIO_FIELDS, ("statement", "hidden_tests")),
    ("mbpp-sanitized", "MBPP sanitized", SANITIZED_FIELDS, ("test_list", "prompt")),
    ("mbpp", "MBPP", MBPP_FIELDS, ("test_list",)),
    ("humaneval", "HumanEval", HUMANEVAL_FIELDS, ("entry_point", "test")),
)


def detect_format(path: Path, line_number: int, record: dict) -> str:
    """The format a record is in, judged by the fields that only that format has."""
    for format_name, _label, _fields, markers in _FORMATS:
        if format_name == "mbpp-sanitized":
            if all(marker in record for marker in markers):
                return format_name
        elif any(marker in record for marker in markers):
            return format_name
    if "prompt" in record and "task_id" in record:
        return "humaneval"  # require_fields then names the missing field
    expected = "; ".join(f"{label} ({', '.join(fields)})" for _name, label, fields, _m in reversed(_FORMATS))
    found = ", ".join(sorted(record)) or "none"
    raise BenchmarkError(f"{path}:{line_number}: no known benchmark format matches fields ({found}); expected {expected}")


def _reject_duplicates(path: Path, drafts: list[Draft]) -> None:
    counts = Counter(draft.task_id for draft in drafts)
    duplicated = [task_id for task_id, count in counts.items() if count > 1]
    if duplicated:
        raise BenchmarkError(f"{path}: duplicate task_id '{duplicated[0]}' (task ids must be unique)")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


# --------------------------------------------------------------------------- statuses
@dataclass(frozen=True)
class DatasetStatus:
    name: str
    version: str
    path: str | None  # where the file was found, None when missing
    expected_path: str  # where it is looked up under the data directory
    records: int | None
    checksum_ok: bool | None  # None when there is no file to check
    url: str
    detail: str = ""  # e.g. the actual sha256 on a mismatch, or why reading failed

    @property
    def status(self) -> str:
        if self.path is None:
            return "missing"
        return "ok" if self.checksum_ok else "checksum mismatch" if self.checksum_ok is False else "unreadable"


def dataset_statuses(data_dir: str | None = None) -> list[DatasetStatus]:
    """Each built-in: where its file is, how many records it holds, whether its checksum holds."""
    statuses = []
    root = resolve_data_dir(data_dir)
    for source in BUILTIN_SOURCES.values():
        expected_path = root / source.subdir / source.file_name
        path = locate(source, data_dir)
        if path is None:
            statuses.append(DatasetStatus(source.name, source.version, None, str(expected_path), None, None, source.url,
                                          f"fetch {source.url}"))
            continue
        actual = file_sha256(path)
        records, detail = _count_records(path)
        if actual != source.sha256:
            detail = f"sha256 {actual}, expected {source.sha256}"
        statuses.append(DatasetStatus(source.name, source.version, str(path), str(expected_path), records,
                                      actual == source.sha256, source.url, detail))
    records, detail = _count_records(STDIO_DEMO_PATH)
    statuses.append(DatasetStatus(STDIO_DEMO, STDIO_DEMO_VERSION, str(STDIO_DEMO_PATH), str(STDIO_DEMO_PATH),
                                  records, records is not None, "(bundled with patflow)", detail))
    return statuses


def _count_records(path: Path) -> tuple[int | None, str]:
    try:
        return sum(1 for _ in read_json_records(path, read_text(path))), ""
    except BenchmarkError as error:
        return None, str(error)
