"""What a model call costs: USD per million tokens and the paper's relative-cost weight.

Resolution order for ``model_pricing(config)``, field by field:
1. the config's own overrides (``input_usd_per_mtok``, ``output_usd_per_mtok``, ``cost_weight``);
2. patflow's table for simulated models (``sim/<name>``, or ``<provider>/sim-<name>`` served by
   ``patflow sim serve``);
3. litellm's bundled local price map (``LITELLM_LOCAL_MODEL_COST_MAP=True``: never fetched);
4. unknown: zero prices and weight ``None``.

Cost is computed here from token counts, never taken from litellm's per-response cost (which is
empty for custom and local models), so it can be recomputed in SQL from the stored tokens.

The simulator's prices are plausible figures for an ~8B / ~32B / ~70B open model on a hosted
API; they exist for dry runs, tests and cost projection and say nothing about any real model.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

from tasks.records import ModelConfig

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class ModelPricing:
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cost_weight: float | None  # e.g. parameters in billions; None when unknown
    source: str = "unknown"  # "config" | "sim" | "litellm" | "unknown" (of the USD prices)


# name -> (input USD / 1M tokens, output USD / 1M tokens, weight = parameters in billions)
# Shaped like budget hosted-API list prices for ~8B / ~32B / ~70B open-weight models.
SIM_PRICES: dict[str, tuple[float, float, float]] = {
    "small": (0.05, 0.08, 8.0),
    "medium": (0.20, 0.30, 32.0),
    "large": (0.60, 0.80, 70.0),
}

_SIM_MODEL_RE = re.compile(r"^(?:sim/(?P<a>[\w.-]+)|(?:[\w.-]+/)?sim-(?P<b>[\w.-]+))$")


def sim_model_name(model: str) -> str | None:
    """'small' for 'sim/small' or 'openai/sim-small'; None for anything else."""
    match = _SIM_MODEL_RE.match(model)
    if not match:
        return None
    return match.group("a") or match.group("b")


def litellm_prices(model: str) -> tuple[float, float] | None:
    import litellm

    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises a plain Exception for models it does not map
        return None
    input_per_token = info.get("input_cost_per_token")
    output_per_token = info.get("output_cost_per_token")
    if input_per_token is None and output_per_token is None:
        return None
    return (float(input_per_token or 0.0) * 1e6, float(output_per_token or 0.0) * 1e6)


@functools.lru_cache(maxsize=256)
def model_pricing(config: ModelConfig) -> ModelPricing:
    sim_name = sim_model_name(config.model)
    table: tuple[float, float] | None = None
    weight: float | None = None
    source = "unknown"
    if sim_name is not None and sim_name in SIM_PRICES:
        input_price, output_price, weight = SIM_PRICES[sim_name]
        table, source = (input_price, output_price), "sim"
    elif config.input_usd_per_mtok is None or config.output_usd_per_mtok is None:
        table = litellm_prices(config.model)
        source = "litellm" if table else "unknown"
    input_usd = config.input_usd_per_mtok
    output_usd = config.output_usd_per_mtok
    if input_usd is not None and output_usd is not None:
        source = "config"
    input_usd = input_usd if input_usd is not None else (table[0] if table else 0.0)
    output_usd = output_usd if output_usd is not None else (table[1] if table else 0.0)
    if config.cost_weight is not None:
        weight = config.cost_weight
    return ModelPricing(float(input_usd), float(output_usd), weight, source)


def cost_usd(pricing: ModelPricing, input_tokens: int, output_tokens: int) -> float:
    return (
        input_tokens * pricing.input_usd_per_mtok + output_tokens * pricing.output_usd_per_mtok
    ) / 1e6
