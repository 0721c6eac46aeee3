"""What a policy's parameters are: declared once per policy, checked before any work starts.

Every policy class lists its ``PARAMS``: name, type, allowed range or choices, default, and the
source the default comes from (paper section or reference ``path:line``). ``check_params`` turns
a ``PolicySpec``'s raw parameters into typed values or raises ``PolicyParamError`` with one line
that names the parameter, what was expected and the policy's parameters — so a bad
``--policy pat:n_samples=abc`` or an unknown ``pat:foo=1`` stops the CLI before Prefect or Dask
start. The model parameters (``generator=``, ``planner=``) are accepted by every policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tasks.records import MODEL_PARAMS


class PolicyParamError(ValueError):
    """A policy parameter that is unknown, ill-typed or out of range."""


@dataclass(frozen=True)
class Param:
    name: str
    type: type  # int | float | str | bool
    default: Any
    help: str
    source: str = "patflow"  # where the default comes from: "PaT §4.1", "funcoder/...py:42"
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        bounds = ""
        if self.choices:
            bounds = " in {" + ",".join(self.choices) + "}"
        elif self.minimum is not None or self.maximum is not None:
            low = "" if self.minimum is None else f"{self.minimum:g}"
            high = "" if self.maximum is None else f"{self.maximum:g}"
            bounds = f" in [{low}, {high}]"
        return f"{self.name}: {self.type.__name__}{bounds} = {self.default!r}"

    def coerce(self, value: Any, policy: str) -> Any:
        """``value`` (a string from the CLI or a YAML scalar) as this parameter's type."""
        where = f"policy '{policy}' parameter '{self.name}'"
        typed = _as_type(value, self.type)
        if typed is None:
            raise PolicyParamError(f"{where}: expected {self.type.__name__}, got {value!r}")
        if self.choices and typed not in self.choices:
            raise PolicyParamError(f"{where}: expected one of {', '.join(self.choices)}, got {value!r}")
        if self.minimum is not None and typed < self.minimum:
            raise PolicyParamError(f"{where}: expected at least {self.minimum:g}, got {value!r}")
        if self.maximum is not None and typed > self.maximum:
            raise PolicyParamError(f"{where}: expected at most {self.maximum:g}, got {value!r}")
        return typed


def _as_type(value: Any, wanted: type) -> Any:
    if wanted is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text)
    if wanted is int:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value) if value.is_integer() else None
        try:
            return int(str(value).strip())
        except ValueError:
            return None
    if wanted is float:
        if isinstance(value, bool):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return str(value)


def check_params(policy: str, declared: Sequence[Param], raw: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """Every declared parameter's typed value (defaults filled in), model parameters kept as
    strings; raises ``PolicyParamError`` for an unknown, ill-typed or out-of-range one."""
    by_name = {param.name: param for param in declared}
    values = {param.name: param.default for param in declared}
    for name, value in raw:
        if name in MODEL_PARAMS:
            values[name] = str(value)
            continue
        param = by_name.get(name)
        if param is None:
            known = "; ".join(p.describe() for p in declared) or "none"
            raise PolicyParamError(
                f"policy '{policy}' has no parameter '{name}' (its parameters: {known};"
                f" every policy also takes {', '.join(MODEL_PARAMS)})"
            )
        values[name] = param.coerce(value, policy)
    return values
