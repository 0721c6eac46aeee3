"""A local S3-compatible endpoint for the object-storage store tests: moto's server
(``python -m moto.server``) in its own process on 127.0.0.1 and a free port.

A plain module (not a fixture file) so ``tests/storage`` and ``tests/scale`` share it.
``require_moto()`` skips the calling module, with the reason, when moto is not installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# moto accepts any key pair; these only have to be present, as real ones would be.
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "patflow-test", "AWS_SECRET_ACCESS_KEY": "patflow-test-secret"}
REGION = "us-east-1"


def require_moto() -> None:
    try:
        import moto.server  # noqa: F401
    except ImportError as error:
        pytest.skip(
            f"needs moto's S3 server ({error}); install the test extra: pip install -e '.[test]'",
            allow_module_level=True,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def s3_environment(endpoint: str) -> dict[str, str]:
    """The standard AWS variables pointing at ``endpoint`` (what a user of MinIO would set)."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, **TEST_CREDENTIALS}


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """Start moto's server in a process of its own; yield its endpoint URL; stop it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"moto's server exited:\n{log.read_text()}"
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # any HTTP answer: the server is up
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"moto's server did not answer on {endpoint}:\n{log.read_text()}")
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def create_bucket(endpoint: str, bucket: str) -> None:
    import pyarrow.fs as pafs

    environ = s3_environment(endpoint)
    filesystem = pafs.S3FileSystem(
        access_key=environ["AWS_ACCESS_KEY_ID"], secret_key=environ["AWS_SECRET_ACCESS_KEY"],
        endpoint_override=endpoint, region=REGION, allow_bucket_creation=True,
    )  # fmt: skip
    filesystem.create_dir(bucket)


def object_keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    """Every object key under ``bucket/prefix`` ending in ``.parquet`` or ``.json``, sorted: what
    a raw reader of the bucket sees."""
    import pyarrow.fs as pafs

    filesystem = pafs.S3FileSystem(
        access_key=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"], secret_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        endpoint_override=endpoint, region=REGION,
    )  # fmt: skip
    selector = pafs.FileSelector(f"{bucket}/{prefix}".rstrip("/"), recursive=True, allow_not_found=True)
    return sorted(
        info.path for info in filesystem.get_file_info(selector)
        if info.type == pafs.FileType.File and info.path.endswith((".parquet", ".json"))
    )  # fmt: skip


def environ_with(endpoint: str) -> dict[str, str]:
    """``os.environ`` plus the S3 variables (for a subprocess)."""
    return {**os.environ, **s3_environment(endpoint)}
