"""The ``sim`` litellm custom provider: ``litellm.acompletion(model="sim/small", ...)`` in-process.

Importing this module registers the provider (idempotent). The answers come from
``tasks.models.sim.respond``, the same function ``patflow sim serve`` serves over HTTP.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import litellm  # noqa: E402
from litellm.llms.custom_llm import CustomLLM, CustomLLMError  # noqa: E402

from tasks.models.sim import UnknownSimModel, respond  # noqa: E402

PROVIDER = "sim"


class SimProvider(CustomLLM):
    """litellm custom provider ``sim``: ``model="sim/small"`` reaches ``respond("small", ...)``."""

    def _response(self, model: str, messages: list, optional_params: dict, litellm_params=None):
        metadata = ((litellm_params or {}).get("metadata") or {}).get("patflow")
        try:
            answer = respond(
                model,
                messages,
                seed=optional_params.get("seed", 0),
                max_tokens=optional_params.get("max_tokens"),
                metadata=metadata,
            )
        except UnknownSimModel as error:
            raise CustomLLMError(status_code=404, message=str(error)) from None
        return litellm.ModelResponse(
            model=f"{PROVIDER}/{model}",
            choices=[
                {
                    "index": 0,
                    "finish_reason": answer.finish_reason,
                    "message": {"role": "assistant", "content": answer.text},
                }
            ],
            usage={
                "prompt_tokens": answer.input_tokens,
                "completion_tokens": answer.output_tokens,
                "total_tokens": answer.input_tokens + answer.output_tokens,
            },
        )

    def completion(self, model, messages, api_base, custom_prompt_dict, model_response,
                   print_verbose, encoding, api_key, logging_obj, optional_params,
                   acompletion=None, litellm_params=None, logger_fn=None, headers={},
                   timeout=None, client=None):  # fmt: skip
        return self._response(model, messages, optional_params, litellm_params)

    async def acompletion(self, model, messages, api_base, custom_prompt_dict, model_response,
                          print_verbose, encoding, api_key, logging_obj, optional_params,
                          acompletion=None, litellm_params=None, logger_fn=None, headers={},
                          timeout=None, client=None):  # fmt: skip
        return self._response(model, messages, optional_params, litellm_params)


_PROVIDER_INSTANCE = SimProvider()


def register_sim_provider() -> None:
    """Idempotent: make ``sim/<name>`` resolvable by litellm in this process."""
    if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map.append(
            {"provider": PROVIDER, "custom_handler": _PROVIDER_INSTANCE}
        )


register_sim_provider()
