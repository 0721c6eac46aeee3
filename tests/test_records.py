"""Record helpers whose mistakes would corrupt results silently."""

from __future__ import annotations

import dataclasses

from tasks.records import (
    BenchmarkSelection,
    DatasetInfo,
    ModelConfig,
    ModelConfiguration,
    ModelRequest,
    PolicySpec,
    PolicyVariant,
    RunConfig,
)


def run_config(generator=ModelConfig("sim/small"), **changes) -> RunConfig:
    base = RunConfig(
        run_id="r",
        benchmarks=(BenchmarkSelection("humaneval", DatasetInfo("humaneval", "1.0.3", "abc"), limit=3, problems_selected=3),),
        policies=(PolicyVariant(PolicySpec("pat"), ("main",)),),
        configurations=(ModelConfiguration("main", generator, ModelConfig("sim/large")),),
        temperature=0.2,
        cache_dir="/a",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


def test_config_hash_ignores_throughput_settings_paths_and_names_but_not_results():
    base = run_config().config_sha256()
    assert run_config(store="/elsewhere", chunk_size=3, workers=4, item_concurrency=2).config_sha256() == base
    assert run_config(cache_dir="/b", data_dir="/d", source="x.yaml").config_sha256() == base
    assert run_config(generator=ModelConfig("sim/small", max_concurrency=2, timeout_s=9)).config_sha256() == base
    renamed = run_config(
        configurations=(ModelConfiguration("other", ModelConfig("sim/small"), ModelConfig("sim/large")),),
        policies=(PolicyVariant(PolicySpec("pat"), ("other",)),),
    )
    assert renamed.config_sha256() == base  # entry names are in no stored row
    assert run_config(seeds=2).config_sha256() != base
    assert run_config(generator=ModelConfig("sim/medium")).config_sha256() != base
    assert run_config(temperature=0.8).config_sha256() != base
    assert run_config(generator=ModelConfig("sim/small", input_usd_per_mtok=1.0)).config_sha256() != base
    labelled = run_config(policies=(PolicyVariant(PolicySpec("pat", custom_label="trial-first"), ("main",)),))
    assert labelled.config_sha256() != base  # a label is stored in every row's policy column


def test_policy_label_and_spec_json():
    assert PolicySpec("pat", (("max_plans", 2),)).label == "pat:max_plans=2"
    assert PolicySpec("pat", (("max_plans", 2),), custom_label="pat2").label == "pat2"
    assert PolicySpec("pat").to_json() == '{"name": "pat", "params": {}}'  # unchanged for stored rows
    assert '"label": "pat2"' in PolicySpec("pat", custom_label="pat2").to_json()


def test_cache_key_separates_servers_serving_one_model_name():
    request = ModelRequest(messages=(("user", "hi"),))
    local = ModelConfig("openai/llama3", api_base="http://127.0.0.1:8000/v1")
    other = ModelConfig("openai/llama3", api_base="http://127.0.0.1:9000/v1")
    assert request.cache_key(local.cache_identity) != request.cache_key(other.cache_identity)
    assert ModelConfig("sim/small").cache_identity == "sim/small"
