"""The run manifest: ``STORE/manifests/<run_id>.json``, the resolved config of a run and its hash.

Guarantees: the manifest is written atomically once per run id and records the resolved
``RunConfig`` (as JSON), ``RunConfig.config_sha256()``, dataset info, the patflow version and the
start time. Writing a manifest for a run id that already has one with a *different* config hash
raises ``ManifestMismatch`` (so a resume can never silently mix two configurations); the same
hash is a resume and keeps the original manifest, appending the resume time.
``remove_run`` deletes every file of a run (for ``--overwrite``). The store may be a local
directory or an ``s3://bucket/prefix`` (``tasks.storage.location``): there the manifest is one
whole-object upload, atomic like the local rename.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from tasks.records import RunConfig
from tasks.storage.location import StoreLocation, parse_store
from tasks.storage.schemas import TABLE_NAMES
from tasks.storage.writer import check_run_id

MANIFEST_FORMAT = 1


class ManifestMismatch(Exception):
    """A run id is reused with a different configuration."""


def manifest_path(store: str | Path | StoreLocation, run_id: str) -> str:
    """The manifest's path in the store's own path form (``display`` it for a message)."""
    return parse_store(store).join("manifests", f"{check_run_id(run_id)}.json")


def manifest_run_ids(store: str | Path | StoreLocation) -> list[str]:
    """Run ids of every manifest in the store, sorted."""
    location = parse_store(store)
    return [name.removesuffix(".json") for name in location.file_names(location.join("manifests"), ".json")]


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


def _write_json_atomically(document: dict[str, Any], location: StoreLocation, path: str) -> None:
    text = json.dumps(document, indent=2, sort_keys=True, default=_json_default)
    location.write_atomically(path, lambda handle: handle.write((text + "\n").encode("utf-8")))


def read_manifest(store: str | Path | StoreLocation, run_id: str) -> dict[str, Any] | None:
    """The manifest of ``run_id``, or None if the run has none. A corrupt file is a ValueError."""
    location = parse_store(store)
    path = manifest_path(location, run_id)
    shown = location.display(path)
    data = location.read_bytes(path)
    if data is None:
        return None
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{shown}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{shown}: line {error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(document, dict) or "config_sha256" not in document:
        raise ValueError(f"{shown}: expected a patflow run manifest with a 'config_sha256' key")
    return document


def write_manifest(store: str | Path | StoreLocation, run_config: RunConfig, extra: dict[str, Any]) -> Path | str:
    """Record the run's resolved config; raise ``ManifestMismatch`` if the run id has another.
    Returns the manifest's ``Path`` in a local store, its ``s3://`` URL on object storage."""
    run_id = check_run_id(run_config.run_id)
    location = parse_store(store)
    path = manifest_path(location, run_id)
    written = Path(path) if location.is_local else location.display(path)
    config_sha256 = run_config.config_sha256()
    now = datetime.now(timezone.utc).isoformat()
    existing = read_manifest(location, run_id)
    if existing is not None:
        if existing["config_sha256"] != config_sha256:
            raise ManifestMismatch(
                f"run {run_id!r} in {location.url} was started with config {existing['config_sha256'][:12]}"
                f" and this one is {config_sha256[:12]}: use another --run-id or --overwrite"
            )
        existing.setdefault("resumed_at", []).append(now)
        _write_json_atomically(existing, location, path)
        return written
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
    _write_json_atomically(document, location, path)
    return written


def remove_run(store: str | Path | StoreLocation, run_id: str) -> None:
    """Delete every file of ``run_id`` (all tables and the manifest). Missing parts are fine."""
    check_run_id(run_id)
    location = parse_store(store)
    for table_name in TABLE_NAMES:
        location.delete_tree(location.join(table_name, f"run_id={run_id}"))
    location.delete_file(manifest_path(location, run_id))
