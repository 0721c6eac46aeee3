"""Model entries from TOML: values land in ModelConfig, mistakes are one clear line."""

from __future__ import annotations

import pytest

from tasks.model_config import ModelConfigError, load_model_entries, model_config


def write(tmp_path, text):
    path = tmp_path / "models.toml"
    path.write_text(text)
    return path


def test_entry_fields_override_command_line_defaults(tmp_path):
    path = write(
        tmp_path,
        '[models."openai/gpt-4o-mini"]\napi_key_env = "OPENAI_API_KEY"\nmax_concurrency = 64\n'
        "input_usd_per_mtok = 0.15\noutput_usd_per_mtok = 0.6\ncost_weight = 8\n",
    )
    entries = load_model_entries(path)
    config = model_config("openai/gpt-4o-mini", entries, max_concurrency=16, api_base=None)
    assert config.max_concurrency == 64 and config.api_key_env == "OPENAI_API_KEY"
    assert (config.input_usd_per_mtok, config.output_usd_per_mtok, config.cost_weight) == (0.15, 0.6, 8.0)
    other = model_config("sim/small", entries, max_concurrency=16, api_base="http://127.0.0.1:1/v1")
    assert other.max_concurrency == 16 and other.api_base == "http://127.0.0.1:1/v1"


@pytest.mark.parametrize(
    "text, message",
    [
        ('[models."m"]\napi_key = "sk-123"\n', "'api_key' looks like a secret"),
        ('[models."m"]\nconcurrency = 3\n', "unknown setting 'concurrency'"),
        ('[models."m"]\ncost_weight = "big"\n', "'cost_weight' must be a non-negative number"),
        ('[model."m"]\n', "unknown section(s) ['model']"),
        ("[models\n", "not valid TOML"),
    ],
)
def test_bad_entries_are_one_line_errors(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ModelConfigError) as error:
        load_model_entries(path)
    assert message in str(error.value) and str(path) in str(error.value)
    assert "\n" not in str(error.value)
