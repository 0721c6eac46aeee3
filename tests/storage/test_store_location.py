"""Parsing a store location and reading its S3 settings from the standard AWS variables (no
server needed: building an S3 file system contacts nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.storage.location import credentials_problem, is_object_store, parse_store, s3_filesystem


def settings(filesystem) -> dict:
    return filesystem.__reduce__()[1][0]


def test_a_local_store_keeps_the_path_as_given():
    location = parse_store("data/runs")
    assert (location.is_local, location.root, location.url) == (True, "data/runs", "data/runs")
    assert location.join("outcomes", "run_id=r1") == str(Path("data/runs/outcomes/run_id=r1"))
    assert parse_store(Path("/tmp/x")).root == "/tmp/x"
    assert not is_object_store(Path("s3://bucket/x"))  # a Path has already lost the URL's slash


def test_an_s3_url_names_the_bucket_and_prefix():
    location = parse_store("s3://team-runs/patflow/", {"AWS_REGION": "eu-west-1"})
    assert (location.is_local, location.bucket, location.root) == (False, "team-runs", "team-runs/patflow")
    assert location.join("manifests", "r1.json") == "team-runs/patflow/manifests/r1.json"
    assert location.display(location.join("manifests")) == "s3://team-runs/patflow/manifests"
    assert parse_store("s3://team-runs", {}).root == "team-runs"


@pytest.mark.parametrize("store, message", [
    ("s3://", "expected s3://bucket or s3://bucket/prefix"),
    ("gs://bucket/x", "unsupported URL scheme 'gs'"),
])  # fmt: skip
def test_a_bad_store_url_is_one_line(store, message):
    with pytest.raises(ValueError, match=message):
        parse_store(store, {})


def test_the_endpoint_and_region_come_from_the_aws_variables():
    minio = settings(s3_filesystem({"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_DEFAULT_REGION": "us-west-2"}))
    assert (minio["scheme"], minio["endpoint_override"], minio["region"]) == ("http", "127.0.0.1:9000", "us-west-2")
    specific = settings(s3_filesystem({"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "https://b:2/", "AWS_REGION": "eu-west-1"}))
    assert (specific["scheme"], specific["endpoint_override"], specific["region"]) == ("https", "b:2", "eu-west-1")
    assert settings(s3_filesystem({"AWS_REGION": "us-east-1"}))["endpoint_override"] == ""  # AWS itself
    assert settings(s3_filesystem({"AWS_REGION": "us-east-1"}, probe=True))["connect_timeout"] == 5.0


def test_credentials_are_looked_for_where_the_sdk_looks(tmp_path):
    nowhere = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    assert credentials_problem({**nowhere, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}) is None
    assert "must be set together" in credentials_problem({**nowhere, "AWS_ACCESS_KEY_ID": "a"})
    assert credentials_problem({**nowhere, "AWS_PROFILE": "team"}) is None
    assert credentials_problem(nowhere).startswith("no AWS credentials: set AWS_ACCESS_KEY_ID")
    (tmp_path / "credentials").write_text("[default]\n")
    assert credentials_problem({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials")}) is None


def test_a_sweep_config_keeps_an_s3_store_url_and_refuses_another_scheme(tmp_path):
    from tasks.sweep_config import SweepConfigError, load_sweep_config

    path = tmp_path / "sweep.yaml"
    rest = (
        "benchmarks: [{name: stdio-demo, limit: 1}]\npolicies: [standard]\n"
        "configurations: [{name: s, generator: sim/small, planner: sim/large}]\n"
    )
    path.write_text("store: s3://team-runs/patflow\n" + rest)
    assert load_sweep_config(path).store == "s3://team-runs/patflow"
    path.write_text("store: gs://team-runs/patflow\n" + rest)
    with pytest.raises(SweepConfigError, match=r"sweep\.yaml:1: store 'gs://team-runs/patflow': expected a directory or s3://"):
        load_sweep_config(path)
