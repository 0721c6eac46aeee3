"""Training data from a run store: verified solutions as JSONL, Parquet, chat (SFT) or
preference (chosen/rejected) records, with a provenance file beside them.

Guarantees:
- Only submissions that passed every hidden suite (``passed``, at least one suite scored) are
  exported as solutions; preference records pair one of them with a failing submission of the
  *same* benchmark and task_id, never across problems.
- No two exported solutions share a normalised code hash: the sha256 of the program's AST dump
  with docstrings removed (comments, blank lines, quoting and layout do not count). A program
  that does not parse is hashed on its whitespace-stripped lines.
- ``--where`` is a DuckDB predicate over the columns of ``queries/export_candidates.sql``.
- Decontamination drops a problem whose prompt or solution shares an n-gram (13 by default) of
  normalised word tokens with a named benchmark's prompts or reference solutions, and records
  each drop with the benchmark and task it overlapped.
- ``OUTPUT.provenance.json`` records run ids, config hashes, datasets and their sha256, the
  filter, the format and every count, and a contamination warning when an exported problem comes
  from a built-in benchmark.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.storage import QueryError, connect, read_manifest
from tasks.storage.manifest import patflow_version
from tasks.storage.views import query_path

FORMATS = ("jsonl", "parquet", "chat", "preference")
DEFAULT_NGRAM = 13
SYSTEM_PROMPT = "Complete the Python function. Answer with the full program."


# --------------------------------------------------------------------------- normalised hash
def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def normalised_code_hash(program: str) -> str:
    """sha256 of the program's AST (docstrings removed); layout and comments do not count."""
    try:
        dumped = ast.dump(_strip_docstrings(ast.parse(program)), annotate_fields=False)
    except (SyntaxError, ValueError):
        dumped = "\n".join(line.strip() for line in program.splitlines() if line.strip())
    return hashlib.sha256(dumped.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- n-gram overlap
_TOKEN = re.compile(r"[a-z0-9_]+")


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """n-grams of lower-cased word tokens (punctuation and layout dropped)."""
    tokens = _TOKEN.findall(text.lower())
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


@dataclass
class NgramIndex:
    n: int
    owners: dict[tuple[str, ...], str] = field(default_factory=dict)  # n-gram -> "bench/task"

    def add(self, owner: str, *texts: str) -> None:
        for text in texts:
            for gram in ngrams(text or "", self.n):
                self.owners.setdefault(gram, owner)

    def overlap(self, *texts: str) -> tuple[str, int] | None:
        """The first benchmark problem sharing an n-gram with ``texts``, and how many are shared."""
        shared: dict[str, int] = {}
        for text in texts:
            for gram in ngrams(text or "", self.n):
                owner = self.owners.get(gram)
                if owner is not None:
                    shared[owner] = shared.get(owner, 0) + 1
        if not shared:
            return None
        owner = max(shared, key=lambda key: (shared[key], key))
        return owner, shared[owner]


def benchmark_index(names: Sequence[str], n: int, data_dir: str | None) -> NgramIndex:
    from tasks.benchmarks import load_benchmark

    index = NgramIndex(n)
    for name in names:
        benchmark = load_benchmark(name, data_dir)
        for problem in benchmark.problems:
            index.add(f"{name}/{problem.task_id}", problem.prompt, problem.reference_solution or "")
    return index


# --------------------------------------------------------------------------- prompts
def builtin_benchmarks() -> set[str]:
    from tasks.benchmarks import builtin_names

    return set(builtin_names())


def _prompts(datasets: Iterable[tuple[str, str]], manifests: dict[str, dict], data_dir: str | None):
    """(dataset_name, task_id) -> prompt, for each dataset (name, sha256) the rows name.

    The benchmark is loaded by the name the run's manifest recorded (a built-in name or a file
    path); a dataset whose file changed since the run (other sha256) has no prompts."""
    from tasks.benchmarks import load_benchmark

    by_name = {}
    for manifest in manifests.values():
        config = manifest.get("config", {})
        dataset = manifest.get("dataset") or {}
        name = dataset.get("name") if isinstance(dataset, dict) else None
        if config.get("benchmark"):
            by_name.setdefault(name or config["benchmark"], (config["benchmark"], config.get("data_dir")))
    prompts: dict[tuple[str, str], str] = {}
    warnings: list[str] = []
    for dataset_name, sha256 in sorted(set(datasets)):
        source, run_data_dir = by_name.get(dataset_name, (dataset_name, None))
        try:
            benchmark = load_benchmark(source, data_dir or run_data_dir)
        except Exception as error:  # a missing file is a warning: the export still has programs
            warnings.append(f"{dataset_name}: prompts unavailable ({str(error).splitlines()[0]})")
            continue
        if benchmark.info.content_sha256 != sha256:
            warnings.append(f"{dataset_name}: file changed since the run (sha256 differs); no prompts")
            continue
        for problem in benchmark.problems:
            prompts[(dataset_name, problem.task_id)] = problem.prompt
    return prompts, warnings


# --------------------------------------------------------------------------- export
@dataclass(frozen=True)
class ExportSummary:
    output: Path
    provenance: Path
    written: int
    counts: dict[str, int]
    warnings: tuple[str, ...]


def _candidates(con: duckdb.DuckDBPyConnection, where: str | None) -> list[dict[str, Any]]:
    sql = query_path("export_candidates").read_text(encoding="utf-8")
    con.execute(f"CREATE TEMP VIEW export_candidates AS {sql}")
    statement = "SELECT * FROM export_candidates"
    if where:
        statement += f" WHERE ({where})"
    try:
        relation = con.sql(statement)
        to_table = getattr(relation, "to_arrow_table", None) or relation.arrow
        return to_table().to_pylist()
    except duckdb.Error as error:
        raise QueryError(f"--where {where!r}: {str(error).splitlines()[0]}") from None


def _record(row: dict[str, Any], prompt: str | None, code_hash: str) -> dict[str, Any]:
    return {
        "dataset": row["dataset_name"],
        "dataset_version": row["dataset_version"],
        "task_id": row["task_id"],
        "prompt": prompt,
        "solution": row["final_program"],
        "decomposition": row["tree_json"],
        "policy": row["policy"],
        "generator_model": row["generator_model"],
        "planner_model": row["planner_model"],
        "seed": row["seed"],
        "run_id": row["run_id"],
        "input_tokens": int(row["input_tokens"]),
        "output_tokens": int(row["output_tokens"]),
        "suites_passed": list(row["suites_passed"]),
        "normalised_sha256": code_hash,
    }


def _chat(record: dict[str, Any]) -> dict[str, Any]:
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": record["prompt"] or ""},
        {"role": "assistant", "content": record["solution"]},
    ]
    return {"messages": messages, **{k: v for k, v in record.items() if k not in ("prompt", "solution")}}


def _write_jsonl(records: list[dict[str, Any]], output: Path) -> None:
    with open(output, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def export_training_data(
    store: str | Path,
    run_ids: Sequence[str],
    output: str | Path,
    *,
    fmt: str = "jsonl",
    where: str | None = None,
    decontaminate: Sequence[str] = (),
    ngram: int = DEFAULT_NGRAM,
    data_dir: str | None = None,
) -> ExportSummary:
    if fmt not in FORMATS:
        raise QueryError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if ngram < 1:
        raise QueryError(f"--ngram {ngram}: expected a positive integer")
    if not run_ids:
        raise QueryError("expected at least one --run-id")
    known = builtin_benchmarks()
    unknown = [name for name in decontaminate if name not in known]
    if unknown:
        raise QueryError(f"--decontaminate {unknown[0]!r}: expected built-in benchmarks ({', '.join(sorted(known))})")
    output = Path(output)
    manifests = {run_id: read_manifest(store, run_id) or {} for run_id in run_ids}
    con = connect(store, run_ids)
    try:
        rows = _candidates(con, where)
    finally:
        con.close()
    prompts, warnings = _prompts(((r["dataset_name"], r["dataset_sha256"]) for r in rows), manifests, data_dir)
    index = benchmark_index(decontaminate, ngram, data_dir) if decontaminate else None

    counts = {"candidates": len(rows), "passing": 0, "duplicates_dropped": 0,
              "contaminated_dropped": 0, "failing": 0}
    seen: set[str] = set()
    passing_hashes: dict[tuple[str, str], set[str]] = {}
    solutions: list[dict[str, Any]] = []
    failing: dict[tuple[str, str], list[dict[str, Any]]] = {}
    failing_seen: set[tuple[str, str, str]] = set()
    contaminated: dict[tuple[str, str], tuple[str, int]] = {}
    if index is not None:  # a problem goes when its prompt or any of its programs overlaps
        for row in rows:
            key = (row["dataset_name"], row["task_id"])
            if key not in contaminated:
                hit = index.overlap(prompts.get(key) or "") or index.overlap(row["final_program"] or "")
                if hit:
                    contaminated[key] = hit
    for row in rows:
        key = (row["dataset_name"], row["task_id"])
        prompt = prompts.get(key)
        if key in contaminated:
            counts["contaminated_dropped"] += 1
            continue
        code_hash = normalised_code_hash(row["final_program"] or "")
        if not (row["passed"] and row["suites_total"]):
            if (row["final_program"] or "").strip() and (key + (code_hash,)) not in failing_seen:
                failing_seen.add(key + (code_hash,))
                failing.setdefault(key, []).append(_record(row, prompt, code_hash))
                counts["failing"] += 1
            continue
        counts["passing"] += 1
        passing_hashes.setdefault(key, set()).add(code_hash)
        if code_hash in seen:
            counts["duplicates_dropped"] += 1
            continue
        seen.add(code_hash)
        solutions.append(_record(row, prompt, code_hash))

    if fmt == "preference":
        records = []
        by_problem: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for solution in solutions:
            by_problem.setdefault((solution["dataset"], solution["task_id"]), []).append(solution)
        for key, chosen_list in by_problem.items():
            # a program that passed somewhere (flaky, or another suite set) is never "rejected"
            rejected_list = [r for r in failing.get(key, [])
                             if r["normalised_sha256"] not in passing_hashes.get(key, set())]
            for chosen, rejected in zip(chosen_list, rejected_list):
                records.append({
                    "dataset": key[0], "task_id": key[1], "prompt": chosen["prompt"] or "",
                    "chosen": chosen["solution"], "rejected": rejected["solution"],
                    "chosen_policy": chosen["policy"], "rejected_policy": rejected["policy"],
                    "chosen_generator_model": chosen["generator_model"],
                    "rejected_generator_model": rejected["generator_model"],
                    "chosen_sha256": chosen["normalised_sha256"],
                    "rejected_sha256": rejected["normalised_sha256"],
                })
    elif fmt == "chat":
        records = [_chat(solution) for solution in solutions]
    else:
        records = solutions

    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(records, schema=_SOLUTION_SCHEMA), output)
    else:
        _write_jsonl(records, output)
    counts["written"] = len(records)

    datasets = sorted({(r["dataset_name"], r["dataset_version"], r["dataset_sha256"]) for r in rows})
    exported_names = {r["dataset"] for r in records}
    contaminating = sorted(name for name in exported_names if name in known)
    if contaminating:
        warnings.append(
            "contamination: these records are problems of the built-in benchmark(s) "
            f"{', '.join(contaminating)}; a model trained on them can no longer be evaluated on "
            "those benchmarks (use --decontaminate to drop overlapping problems)"
        )
    provenance = output.with_name(output.name + ".provenance.json")
    document = {
        "created_at": datetime.now(timezone.utc).isoformat(),
        "patflow_version": patflow_version(),
        "store": str(store),
        "runs": [{"run_id": run_id, "config_sha256": manifests[run_id].get("config_sha256")}
                 for run_id in run_ids],
        "datasets": [{"name": n, "version": v, "sha256": s} for n, v, s in datasets],
        "format": fmt,
        "where": where,
        "dedup": "sha256 of the AST dump without docstrings (tasks/analysis/export.py)",
        "decontaminate": {
            "benchmarks": list(decontaminate),
            "ngram": ngram,
            "dropped_problems": [
                {"dataset": key[0], "task_id": key[1],
                 "reason": f"{ngram}-gram overlap with {owner} ({shared} shared)"}
                for key, (owner, shared) in sorted(contaminated.items())
            ],
        },
        "counts": counts,
        "warnings": warnings,
    }
    provenance.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return ExportSummary(output, provenance, len(records), counts, tuple(warnings))


_SOLUTION_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("dataset_version", pa.string()), ("task_id", pa.string()),
    ("prompt", pa.string()), ("solution", pa.string()), ("decomposition", pa.string()),
    ("policy", pa.string()), ("generator_model", pa.string()), ("planner_model", pa.string()),
    ("seed", pa.int64()), ("run_id", pa.string()), ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()), ("suites_passed", pa.list_(pa.string())),
    ("normalised_sha256", pa.string()),
])
