"""The model layer: the only package in patflow that imports litellm.

Public interface (what policies and flows code against):

- ``ModelClient(cache=<default on-disk cache>, retry_base_delay_s=None)`` with
  ``async complete(config: ModelConfig, request: ModelRequest) -> Completion``. It never raises
  for provider or network faults: after retries the ``Completion`` has ``error`` set.
- ``ResponseCache(directory)`` and ``default_cache_dir()``: the shared on-disk response cache.
- ``model_pricing(config) -> ModelPricing`` and ``cost_usd(pricing, input_tokens, output_tokens)``.
- ``tasks.models.sim``: the simulated ``sim/<name>`` models and ``register_problems``.

Exports are resolved lazily, so ``from tasks.models.cache import ResponseCache`` (used by the
``patflow cache`` command) does not pay litellm's ~5 s import.
"""

from __future__ import annotations

import os
import warnings

# litellm's import builds pydantic models that warn about a typing qualifier; nothing to act on.
warnings.filterwarnings("ignore", message=r"Item '.*' on TypedDict class .* `ReadOnly` qualifier")

# Before litellm is imported anywhere: without these its import blocks on a network fetch of the
# price map and token counting for Hugging Face model names tries a download.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

_EXPORTS = {
    "ModelClient": "tasks.models.client",
    "RETRY": "tasks.models.client",
    "RetrySettings": "tasks.models.client",
    "ResponseCache": "tasks.models.cache",
    "CacheStats": "tasks.models.cache",
    "default_cache_dir": "tasks.models.cache",
    "ModelPricing": "tasks.models.pricing",
    "model_pricing": "tasks.models.pricing",
    "cost_usd": "tasks.models.pricing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'tasks.models' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
