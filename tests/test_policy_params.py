"""Policy parameters: typed, range-checked, unknown names refused with the policy's list."""

import pytest

from tasks.policies import PolicyParamError, build_policy, parse_policy_spec
from tasks.policies.params import Param, check_params

DECLARED = (
    Param("n", int, 5, "samples", minimum=1, maximum=50),
    Param("temperature", float, 0.8, "sampling temperature", minimum=0.0),
    Param("tests", str, "generated", "test source", choices=("generated", "public", "both")),
    Param("flag", bool, False, "a switch"),
)


def test_defaults_fill_in_and_values_are_typed():
    values = check_params("p", DECLARED, (("n", "7"), ("temperature", "0.5"), ("flag", "true")))
    assert values == {"n": 7, "temperature": 0.5, "tests": "generated", "flag": True}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (("n", "abc"), "parameter 'n': expected int, got 'abc'"),
        (("n", "0"), "parameter 'n': expected at least 1"),
        (("n", "51"), "parameter 'n': expected at most 50"),
        (("n", 2.5), "parameter 'n': expected int"),
        (("tests", "hidden"), "expected one of generated, public, both"),
        (("flag", "maybe"), "parameter 'flag': expected bool"),
        (("foo", "1"), "policy 'p' has no parameter 'foo' \\(its parameters: n: int in \\[1, 50\\] = 5"),
    ],
)
def test_bad_parameters_are_one_clear_error(raw, message):
    with pytest.raises(PolicyParamError, match=message):
        check_params("p", DECLARED, (raw,))


def test_model_parameters_are_accepted_by_every_policy():
    assert check_params("p", (), (("generator", "sim/large"),)) == {"generator": "sim/large"}


def test_parse_policy_spec_refuses_bad_parameters_before_any_work():
    with pytest.raises(PolicyParamError, match="policy 'standard' has no parameter 'foo'"):
        parse_policy_spec("standard:foo=1")
    with pytest.raises(PolicyParamError, match="expected float, got 'abc'"):
        parse_policy_spec("standard:temperature=abc")
    assert build_policy(parse_policy_spec("standard:temperature=0.2")).params["temperature"] == 0.2
