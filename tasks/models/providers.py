"""Is a model string something litellm can route? Checked before a sweep starts."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import litellm  # noqa: E402

litellm.suppress_debug_info = True  # it prints a provider-list banner on every routing error

SIM_PROVIDER = "sim"


class ModelNameError(ValueError):
    pass


def validate_model_name(model: str) -> None:
    """Raise ``ModelNameError`` with a one-line message unless litellm knows the provider."""
    provider, _, name = model.partition("/")
    if provider == SIM_PROVIDER:
        if not name:
            raise ModelNameError(f"model '{model}': expected sim/<name>, e.g. sim/small")
        return
    try:
        litellm.get_llm_provider(model)
    except Exception:
        raise ModelNameError(
            f"unknown model provider in '{model}' (expected <provider>/<model> with a litellm "
            f"provider, e.g. openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, "
            f"ollama/llama3, hosted_vllm/<name>, or sim/small)"
        ) from None
