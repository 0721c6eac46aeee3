"""Code-generation policies, registered by name and built from a ``PolicySpec``."""

from __future__ import annotations

from tasks.policies.best_of_n import BestOfN
from tasks.policies.codet import CodeT
from tasks.policies.engine import Policy
from tasks.policies.funcoder import FunCoder
from tasks.policies.params import PolicyParamError
from tasks.policies.pat import PlanningAfterTrial
from tasks.policies.self_debug import SelfDebug
from tasks.policies.standard import Standard
from tasks.records import PolicySpec

POLICIES: dict[str, type[Policy]] = {
    Standard.name: Standard,
    PlanningAfterTrial.name: PlanningAfterTrial,
    BestOfN.name: BestOfN,
    CodeT.name: CodeT,
    SelfDebug.name: SelfDebug,
    FunCoder.name: FunCoder,
}


class UnknownPolicy(ValueError):
    pass


__all__ = ["POLICIES", "PolicyParamError", "UnknownPolicy", "build_policy", "parse_policy_spec"]


def build_policy(spec: PolicySpec) -> Policy:
    try:
        policy_class = POLICIES[spec.name]
    except KeyError:
        raise UnknownPolicy(
            f"unknown policy '{spec.name}' (known: {', '.join(sorted(POLICIES))})"
        ) from None
    return policy_class(spec)


def split_policy_text(text: str) -> tuple[str, dict]:
    """``pat:n_samples=3,tests=public`` -> ("pat", {"n_samples": 3, "tests": "public"}); values
    parsed as int/float when they look so. A parameter that is not ``key=value`` is a
    ValueError naming it (callers say where it came from)."""
    name, _, params_text = text.partition(":")
    params = {}
    for item in filter(None, params_text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad parameter '{item}' (expected key=value)")
        params[key.strip()] = _parse_value(value.strip())
    return name.strip(), params


def parse_policy_spec(text: str) -> PolicySpec:
    """``pat`` or ``pat:n_samples=3`` → PolicySpec; values parsed as int/float when they look so."""
    try:
        name, params = split_policy_text(text)
    except ValueError as error:
        raise UnknownPolicy(f"policy '{text}': {error}") from None
    spec = PolicySpec(name=name, params=tuple(sorted(params.items())))
    build_policy(spec)
    return spec


def _parse_value(value: str):
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value
