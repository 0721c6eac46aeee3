"""Where a run store lives: a local directory or an object-storage prefix (``s3://bucket/prefix``).

``parse_store`` turns what the user wrote (``--store``, ``PATFLOW_STORE``, a config's ``store:``)
into a ``StoreLocation``: a pyarrow file system and the store's root in that file system's path
form. The writer, manifest, compaction, views and ``patflow runs`` do their file operations
through the small set of methods here, so the same code serves both kinds of store.

Why pyarrow's ``S3FileSystem`` and not fsspec/s3fs: pyarrow is already a runtime dependency and
its wheels carry the AWS SDK, so the S3 store needs no new runtime package (s3fs would add
aiobotocore, which pins botocore to a narrow range that fights the boto3/botocore pinned here);
and ``pyarrow.parquet`` / ``pyarrow.dataset`` take the same file system object directly, which is
how DuckDB reads the store on S3 without its ``httpfs`` extension (not installable offline:
``INSTALL httpfs`` downloads it) — see ``tasks.storage.views``.

Guarantees:
- A local store keeps its exact behaviour: ``root`` is the path as given (not resolved), and the
  local methods use the same ``pathlib``/``os`` calls as before, including the atomic write
  (temporary name beside the file, fsync, rename, fsync the directory).
- On S3 a write is one object upload of the complete bytes, built in memory first: S3 shows an
  object whole or not at all (a multipart upload appears only when it completes), so there is no
  rename and no temporary object. A process that dies mid-upload leaves no object.
- Endpoint, region and credentials come only from the standard AWS variables
  (``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, ``AWS_REGION`` or ``AWS_DEFAULT_REGION``,
  ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``AWS_PROFILE``), never
  from the URL, so nothing secret reaches a manifest or a log line. pyarrow does not read
  ``AWS_ENDPOINT_URL`` itself, so it is read here and passed as ``endpoint_override``.
- ``object_store_problem`` checks, before any work, that credentials are configured, the endpoint
  answers, the bucket exists and the prefix can be listed; it writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import pyarrow.fs as pafs

S3_SCHEME = "s3://"
# Short limits for the up-front check only: a wrong endpoint is one clear line in seconds.
PROBE_CONNECT_TIMEOUT_S = 5.0
PROBE_REQUEST_TIMEOUT_S = 10.0
CREDENTIAL_SOURCES = (
    "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)  # fmt: skip


def is_object_store(store: str | Path) -> bool:
    """True for an ``s3://`` URL (a ``Path`` never is one: it would have lost a slash)."""
    return isinstance(store, str) and store.startswith(S3_SCHEME)


@dataclass(frozen=True)
class StoreLocation:
    """A run store: ``url`` as the user wrote it (for messages), ``root`` in ``filesystem``'s own
    path form (a local path as given, or ``bucket/prefix`` on S3)."""

    url: str
    root: str
    filesystem: pafs.FileSystem

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    @property
    def bucket(self) -> str:
        return self.root.split("/", 1)[0]

    def join(self, *parts: str) -> str:
        """The path of ``parts`` under the root, in the file system's path form."""
        if self.is_local:
            return str(Path(self.root).joinpath(*parts))
        return "/".join((self.root.rstrip("/"), *parts))

    def display(self, path: str) -> str:
        """``path`` as a user would name it: a local path, or an ``s3://`` URL."""
        return path if self.is_local else S3_SCHEME + path

    # ----------------------------------------------------------------- reading
    def file_names(self, directory: str, suffix: str = "") -> list[str]:
        """Names of the files directly in ``directory`` ending in ``suffix``, sorted; [] if the
        directory does not exist."""
        if self.is_local:
            path = Path(directory)
            if not path.is_dir():
                return []
            return sorted(entry.name for entry in path.iterdir() if entry.name.endswith(suffix) and entry.is_file())
        selector = pafs.FileSelector(directory, allow_not_found=True, recursive=False)
        return sorted(
            info.base_name
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File and info.base_name.endswith(suffix)
        )

    def subdirectory_names(self, directory: str, prefix: str = "") -> list[str]:
        """Names of the directories directly in ``directory`` starting with ``prefix``, sorted."""
        if self.is_local:
            path = Path(directory)
            if not path.is_dir():
                return []
            return sorted(entry.name for entry in path.iterdir() if entry.name.startswith(prefix) and entry.is_dir())
        selector = pafs.FileSelector(directory, allow_not_found=True, recursive=False)
        return sorted(
            info.base_name
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.Directory and info.base_name.startswith(prefix)
        )

    def read_bytes(self, path: str) -> bytes | None:
        """The whole file, or None if it does not exist."""
        if self.is_local:
            try:
                return Path(path).read_bytes()
            except FileNotFoundError:
                return None
        try:
            with self.filesystem.open_input_stream(path) as stream:
                return stream.read()
        except FileNotFoundError:
            return None

    def exists(self) -> bool:
        """The store's root exists (a directory locally; on S3, the bucket)."""
        if self.is_local:
            return Path(self.root).exists()
        return self.filesystem.get_file_info(self.bucket).type != pafs.FileType.NotFound

    # ----------------------------------------------------------------- writing
    def write_atomically(self, path: str, write: Callable[[BinaryIO], None]) -> str:
        """Write a file that readers see whole or not at all; returns ``path``."""
        if self.is_local:
            return str(write_local_atomically(Path(path), write))
        import pyarrow as pa

        buffer = pa.BufferOutputStream()
        write(buffer)
        put_object(self.filesystem, path, buffer.getvalue())
        return path

    def delete_file(self, path: str) -> None:
        """Delete one file; a missing one is fine."""
        if self.is_local:
            Path(path).unlink(missing_ok=True)
            return
        try:
            self.filesystem.delete_file(path)
        except FileNotFoundError:
            pass

    def delete_tree(self, directory: str) -> None:
        """Delete a directory and everything under it; a missing one is fine."""
        if self.is_local:
            import shutil

            shutil.rmtree(directory, ignore_errors=True)
            return
        if self.filesystem.get_file_info(directory).type == pafs.FileType.Directory:
            self.filesystem.delete_dir(directory)


def put_object(filesystem: pafs.FileSystem, path: str, data) -> None:
    """Upload complete bytes as one object. The upload completes only when the stream closes
    without error; a dead process leaves no object (and at most an unfinished upload, which S3
    never lists)."""
    with filesystem.open_output_stream(path) as stream:
        stream.write(data)


def write_local_atomically(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """``write`` into a temporary file beside ``path``, fsync, rename, fsync the directory:
    readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The suffix keeps the temp file out of the views' "*.parquet" glob.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- parsing
def parse_store(store: str | Path | StoreLocation, environ: Mapping[str, str] | None = None) -> StoreLocation:
    """The ``StoreLocation`` of a local path or an ``s3://bucket/prefix`` URL.

    Raises ``ValueError`` for an ``s3://`` URL without a bucket or another URL scheme."""
    if isinstance(store, StoreLocation):
        return store
    if is_object_store(store):
        bucket_and_prefix = store[len(S3_SCHEME):].strip("/")
        if not bucket_and_prefix or bucket_and_prefix.startswith("/"):
            raise ValueError(f"store {store}: expected s3://bucket or s3://bucket/prefix")
        return StoreLocation(url=store, root=bucket_and_prefix, filesystem=s3_filesystem(environ))
    text = str(store)
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if scheme:
        raise ValueError(f"store {text}: unsupported URL scheme {scheme!r} (expected a directory or s3://bucket/prefix)")
    return StoreLocation(url=text, root=text, filesystem=pafs.LocalFileSystem())


def endpoint_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The S3 endpoint from the standard AWS variables (the service-specific one wins)."""
    environ = os.environ if environ is None else environ
    return environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or None


def s3_filesystem(environ: Mapping[str, str] | None = None, *, probe: bool = False) -> pafs.S3FileSystem:
    """A pyarrow S3 file system configured from the standard AWS variables. ``probe``: short
    timeouts and one attempt, for the up-front check."""
    environ = os.environ if environ is None else environ
    options: dict[str, object] = {}
    endpoint = endpoint_url(environ)
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options["endpoint_override"] = parts.netloc + parts.path.rstrip("/")
        options["scheme"] = parts.scheme
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    if probe:
        options["connect_timeout"] = PROBE_CONNECT_TIMEOUT_S
        options["request_timeout"] = PROBE_REQUEST_TIMEOUT_S
        options["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=1)
    return pafs.S3FileSystem(**options)


def credentials_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """None if AWS credentials are configured where the SDK looks for them, else what to set.

    Instance-metadata credentials (an EC2 role) are not probed: that lookup hangs where there is
    no metadata service. On such a machine set ``AWS_PROFILE`` or export the role's keys."""
    environ = os.environ if environ is None else environ
    key_id, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        return None
    if key_id or secret:
        return "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together"
    if any(environ.get(name) for name in CREDENTIAL_SOURCES):
        return None
    shared = environ.get("AWS_SHARED_CREDENTIALS_FILE") or str(Path.home() / ".aws" / "credentials")
    if Path(shared).is_file():
        return None
    return "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"


def object_store_problem(store: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why the ``s3://`` store could not be used, checked without writing anything; None if it
    can: credentials configured, the endpoint answering, the bucket there, the prefix listable."""
    environ = os.environ if environ is None else environ
    try:
        location = parse_store(store, environ)
    except ValueError as error:
        return str(error)
    problem = credentials_problem(environ)
    if problem:
        return problem
    filesystem = s3_filesystem(environ, probe=True)
    where = endpoint_url(environ) or "AWS S3"
    try:
        if filesystem.get_file_info(location.bucket).type == pafs.FileType.NotFound:
            return f"bucket {location.bucket!r} does not exist at {where}"
        filesystem.get_file_info(pafs.FileSelector(location.root, allow_not_found=True))
    except OSError as error:
        return f"cannot reach bucket {location.bucket!r} at {where}: {_first_line(error)}"
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
