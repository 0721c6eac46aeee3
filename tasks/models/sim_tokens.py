"""The simulator's token counts: litellm's default tokenizer (tiktoken ``cl100k_base`` from the
files bundled in litellm's wheel, so offline), with OpenAI's chat overhead as
``litellm.token_counter`` counts it.

Counts are remembered per text (``count_text_tokens``, a bounded LRU): a sweep asks for the same
system prompts, task prompts and answers many times, and tokenising them again took about a
tenth of a sweep worker's event loop with the in-process simulator (BENCHMARKS.md, "The
simulator's own CPU"). A
real provider counts tokens on its own machines; the simulator stands in for it. This module does
not import litellm.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

TOKENS_PER_MESSAGE = 3  # OpenAI's chat format overhead, as litellm.token_counter counts it
TOKENS_PER_REPLY = 3
# Texts whose counts are kept: prompts and answers are a few kB, so a few MB at most.
COUNTS_KEPT = 2048
_encoding = None


def tiktoken_encoding():
    """cl100k_base from the tokenizer files bundled in litellm's wheel (offline; no litellm import)."""
    global _encoding
    if _encoding is None:
        import importlib.util

        import tiktoken

        spec = importlib.util.find_spec("litellm")
        if spec is not None and spec.submodule_search_locations:
            bundled = os.path.join(
                list(spec.submodule_search_locations)[0], "litellm_core_utils", "tokenizers"
            )
            # litellm itself sets this on import, unless CUSTOM_TIKTOKEN_CACHE_DIR is given.
            os.environ["TIKTOKEN_CACHE_DIR"] = os.environ.get("CUSTOM_TIKTOKEN_CACHE_DIR", bundled)
        _encoding = tiktoken.get_encoding("cl100k_base")
    return _encoding


@functools.lru_cache(maxsize=COUNTS_KEPT)
def count_text_tokens(text: str) -> int:
    return len(tiktoken_encoding().encode(text, disallowed_special=()))


def count_chat_tokens(pairs: Iterable[tuple[str, str]]) -> int:
    """Prompt tokens of a chat request's (role, content) pairs plus the format's overhead."""
    return TOKENS_PER_REPLY + sum(
        TOKENS_PER_MESSAGE + count_text_tokens(role) + count_text_tokens(content) for role, content in pairs
    )


def cut_to_tokens(text: str, max_tokens: int) -> str:
    encoding = tiktoken_encoding()
    return encoding.decode(encoding.encode(text, disallowed_special=())[:max_tokens])
