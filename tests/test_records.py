"""Record helpers whose mistakes would corrupt results silently."""

from __future__ import annotations

import dataclasses

from tasks.records import ModelConfig, ModelRequest, PolicySpec, RunConfig


def run_config(**changes) -> RunConfig:
    base = RunConfig(
        run_id="r", benchmark="humaneval", policies=(PolicySpec("pat"),),
        generator=ModelConfig("sim/small"), planner=ModelConfig("sim/large"),
        extra={"temperature": 0.2, "cache_dir": "/a"},
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


def test_config_hash_ignores_throughput_settings_and_paths_but_not_results():
    base = run_config().config_sha256()
    assert run_config(store="/elsewhere", chunk_size=3).config_sha256() == base
    assert run_config(extra={"temperature": 0.2, "cache_dir": "/b"}).config_sha256() == base
    assert run_config(generator=ModelConfig("sim/small", max_concurrency=2, timeout_s=9)).config_sha256() == base
    assert run_config(seeds=2).config_sha256() != base
    assert run_config(generator=ModelConfig("sim/medium")).config_sha256() != base
    assert run_config(extra={"temperature": 0.8, "cache_dir": "/a"}).config_sha256() != base
    assert run_config(generator=ModelConfig("sim/small", input_usd_per_mtok=1.0)).config_sha256() != base


def test_cache_key_separates_servers_serving_one_model_name():
    request = ModelRequest(messages=(("user", "hi"),))
    local = ModelConfig("openai/llama3", api_base="http://127.0.0.1:8000/v1")
    other = ModelConfig("openai/llama3", api_base="http://127.0.0.1:9000/v1")
    assert request.cache_key(local.cache_identity) != request.cache_key(other.cache_identity)
    assert ModelConfig("sim/small").cache_identity == "sim/small"
