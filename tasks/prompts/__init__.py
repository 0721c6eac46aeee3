"""Prompt templates, one file per request kind, and the one function that reads code back.

Templates live in ``tasks/prompts/templates/<name>.txt`` (package data, read with
``importlib.resources``). A file is a sequence of chat messages, each introduced by a line
``@@ system``, ``@@ user`` or ``@@ assistant`` (few-shot turns are plain user/assistant pairs);
``{{name}}`` marks a value filled in by ``render``. The sha256 of a template's file is recorded
on every call built from it (``prompt_sha256``), so a changed prompt never hides in old rows.

``kind_of_messages`` is the inverse for the one path that cannot carry the request kind
explicitly (the OpenAI-compatible HTTP simulator): it recognises a template by its system
message, which no template shares with another.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tasks.prompts.extract import Extracted, extract_code, function_signature, read_code

__all__ = [
    "Extracted",
    "PromptError",
    "PromptTemplate",
    "extract_code",
    "function_signature",
    "generate_messages",
    "kind_of_messages",
    "read_code",
    "render",
    "template",
    "template_names",
]

ROLES = ("system", "user", "assistant")
_HEADER = re.compile(r"^@@ (system|user|assistant)\s*$", re.MULTILINE)
_SLOT = re.compile(r"\{\{([a-z_]+)\}\}")

# The request kind each template is sent as (the ``phase`` of its call rows).
KIND_OF_TEMPLATE = {
    "generate": "generate",
    "generate_program": "generate",
    "generate_helper": "generate",
    "write_tests": "write_tests",
    "write_calls": "write_tests",
    "decompose": "decompose",
}


class PromptError(ValueError):
    pass


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    messages: tuple[tuple[str, str], ...]  # (role, text with {{slots}})
    sha256: str  # of the file's bytes
    slots: frozenset[str]

    def render(self, **values: str) -> tuple[tuple[str, str], ...]:
        missing = self.slots - values.keys()
        extra = values.keys() - self.slots
        if missing or extra:
            raise PromptError(
                f"template {self.name!r}: missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        # One pass per message, so a value that itself contains "{{x}}" is never re-expanded.
        return tuple(
            (role, _SLOT.sub(lambda match: values[match.group(1)], text))
            for role, text in self.messages
        )


def template_names() -> list[str]:
    folder = resources.files("tasks.prompts").joinpath("templates")
    return sorted(item.name[:-4] for item in folder.iterdir() if item.name.endswith(".txt"))


@cache
def template(name: str) -> PromptTemplate:
    path = resources.files("tasks.prompts").joinpath("templates", f"{name}.txt")
    if not path.is_file():
        raise PromptError(f"no prompt template {name!r} (known: {', '.join(template_names())})")
    raw = path.read_bytes()
    return parse_template(name, raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())


def parse_template(name: str, text: str, sha256: str) -> PromptTemplate:
    headers = list(_HEADER.finditer(text))
    if not headers or text[: headers[0].start()].strip():
        raise PromptError(f"template {name!r} must start with a '@@ system|user|assistant' line")
    messages = []
    for header, following in zip(headers, headers[1:] + [None]):
        end = following.start() if following else len(text)
        messages.append((header.group(1), text[header.end() : end].strip("\n")))
    slots = frozenset(slot for _, body in messages for slot in _SLOT.findall(body))
    return PromptTemplate(name, tuple(messages), sha256, slots)


def render(name: str, **values: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """(messages, template sha256) of template ``name`` filled with ``values``."""
    chosen = template(name)
    return chosen.render(**values), chosen.sha256


@cache
def _template_of_system_text() -> dict[str, str]:
    mapping = {}
    for name in template_names():
        first_role, first_text = template(name).messages[0]
        if first_role == "system":
            mapping[first_text] = name
    return mapping


def template_of_messages(messages) -> str | None:
    """The template a request was rendered from, recognised by its system message."""
    for role, content in messages:
        if role == "system":
            return _template_of_system_text().get(content)
    return None


def kind_of_messages(messages) -> str | None:
    name = template_of_messages(messages)
    return None if name is None else KIND_OF_TEMPLATE.get(name, name)


def generate_messages(prompt: str, entry_point: str) -> tuple[tuple[str, str], ...]:
    """The root generation request for a problem prompt (what ``standard`` sends)."""
    if entry_point:
        return render("generate", code=prompt.strip("\n"), target=entry_point)[0]
    return render("generate_program", code=prompt.strip("\n"))[0]
