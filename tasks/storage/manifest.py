"""The run manifest: ``STORE/manifests/<run_id>.json``, the resolved config of a run and its hash.

Guarantees: the manifest is written atomically once per run id and records the resolved
``RunConfig`` (as JSON), ``RunConfig.config_sha256()``, dataset info, the patflow version and the
start time. Writing a manifest for a run id that already has one with a *different* config hash
raises ``ManifestMismatch`` (so a resume can never silently mix two configurations); the same
hash is a resume and keeps the original manifest, appending the resume time.
``remove_run`` deletes every file of a run (for ``--overwrite``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from tasks.records import RunConfig
from tasks.storage.schemas import TABLE_NAMES
from tasks.storage.writer import check_run_id, write_atomically

MANIFEST_FORMAT = 1


class ManifestMismatch(Exception):
    """A run id is reused with a different configuration."""


def manifest_path(store: str | Path, run_id: str) -> Path:
    return Path(store) / "manifests" / f"{check_run_id(run_id)}.json"


def patflow_version() -> str:
    try:
        return metadata.version("patflow")
    except metadata.PackageNotFoundError:
        return "unknown"


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _write_json_atomically(document: dict[str, Any], path: Path) -> None:
    text = json.dumps(document, indent=2, sort_keys=True, default=_json_default)
    write_atomically(path, lambda handle: handle.write((text + "\n").encode("utf-8")))


def read_manifest(store: str | Path, run_id: str) -> dict[str, Any] | None:
    """The manifest of ``run_id``, or None if the run has none. A corrupt file is a ValueError."""
    path = manifest_path(store, run_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(document, dict) or "config_sha256" not in document:
        raise ValueError(f"{path}: expected a patflow run manifest with a 'config_sha256' key")
    return document


def write_manifest(store: str | Path, run_config: RunConfig, extra: dict[str, Any]) -> Path:
    """Record the run's resolved config; raise ``ManifestMismatch`` if the run id has another."""
    run_id = check_run_id(run_config.run_id)
    path = manifest_path(store, run_id)
    config_sha256 = run_config.config_sha256()
    now = datetime.now(timezone.utc).isoformat()
    existing = read_manifest(store, run_id)
    if existing is not None:
        if existing["config_sha256"] != config_sha256:
            raise ManifestMismatch(
                f"run {run_id!r} in {store} was started with config {existing['config_sha256'][:12]}"
                f" and this one is {config_sha256[:12]}: use another --run-id or --overwrite"
            )
        existing.setdefault("resumed_at", []).append(now)
        _write_json_atomically(existing, path)
        return path
    document = {
        "manifest_format": MANIFEST_FORMAT,
        "run_id": run_id,
        "config": json.loads(run_config.to_json()),
        "config_sha256": config_sha256,
        "patflow_version": patflow_version(),
        "started_at": now,
        "resumed_at": [],
        "extra": extra,
    }
    if "dataset" in extra:
        document["dataset"] = extra["dataset"]
    _write_json_atomically(document, path)
    return path


def remove_run(store: str | Path, run_id: str) -> None:
    """Delete every file of ``run_id`` (all tables and the manifest). Missing parts are fine."""
    check_run_id(run_id)
    for table_name in TABLE_NAMES:
        shutil.rmtree(Path(store) / table_name / f"run_id={run_id}", ignore_errors=True)
    manifest_path(store, run_id).unlink(missing_ok=True)
