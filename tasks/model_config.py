"""Model entries from a TOML file: how to reach each model, its limits, prices and weight.

```toml
[models."openai/gpt-4o-mini"]
api_key_env = "OPENAI_API_KEY"   # the variable's NAME; the key itself never goes in a file
max_concurrency = 32
requests_per_minute = 500
input_usd_per_mtok = 0.15         # overrides litellm's price map
output_usd_per_mtok = 0.60
cost_weight = 8                   # the paper's relative cost: e.g. parameters in billions

[models."openai/qwen2.5-coder-32b"]
api_base = "http://127.0.0.1:8000/v1"
cost_weight = 32
```

A model without an entry gets the defaults of ``ModelConfig`` plus the command line's options.
Bad input stops with one line naming the file, the entry and what was expected.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from tasks.records import ModelConfig


class ModelConfigError(ValueError):
    pass


_FIELDS = {f.name: f for f in dataclasses.fields(ModelConfig) if f.name != "model"}
_NUMBER_FIELDS = {
    "max_concurrency": int,
    "max_retries": int,
    "requests_per_minute": float,
    "tokens_per_minute": float,
    "timeout_s": float,
    "input_usd_per_mtok": float,
    "output_usd_per_mtok": float,
    "cost_weight": float,
}
_SECRET_LOOKING_KEYS = {"api_key", "key", "token", "secret", "password"}


def load_model_entries(path: Path) -> dict[str, dict]:
    """``{model string: {field: value}}`` from the file's ``[models."<model>"]`` tables."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelConfigError(f"{path}: no such model config file") from None
    except tomllib.TOMLDecodeError as error:
        raise ModelConfigError(f"{path}: not valid TOML ({error})") from None
    unknown_sections = set(document) - {"models"}
    if unknown_sections:
        raise ModelConfigError(
            f"{path}: unknown section(s) {sorted(unknown_sections)} (expected only [models.\"<litellm model>\"] tables)"
        )
    entries = {}
    for model, table in document.get("models", {}).items():
        where = f'{path}: [models."{model}"]'
        if not isinstance(table, dict):
            raise ModelConfigError(f"{where}: expected a table of settings")
        for key, value in table.items():
            if key in _SECRET_LOOKING_KEYS:
                raise ModelConfigError(
                    f"{where}: '{key}' looks like a secret; put the key in an environment variable "
                    f"and name it with api_key_env"
                )
            if key not in _FIELDS:
                raise ModelConfigError(f"{where}: unknown setting '{key}' (expected one of {', '.join(sorted(_FIELDS))})")
            if key in _NUMBER_FIELDS:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ModelConfigError(f"{where}: '{key}' must be a non-negative number, got {value!r}")
                table[key] = _NUMBER_FIELDS[key](value)
            elif not isinstance(value, str):
                raise ModelConfigError(f"{where}: '{key}' must be a string, got {value!r}")
        entries[model] = table
    return entries


def model_config(model: str, entries: dict[str, dict], **command_line_defaults) -> ModelConfig:
    """The file's entry wins over the command line's defaults (which win over ModelConfig's)."""
    settings = {key: value for key, value in command_line_defaults.items() if value is not None}
    settings.update(entries.get(model, {}))
    return ModelConfig(model=model, **settings)
