"""``standard``: one generation, verified on the public tests, scored (the paper's Standard)."""

from tasks.policies.state import DONE, GENERATE, START, VERIFY, Policy, PolicyState


class Standard(Policy):
    name = "standard"

    def next_phase(self, state: PolicyState) -> str:
        if state.model_error:
            return DONE
        if state.phase == START:
            return GENERATE
        if state.phase == GENERATE:
            return VERIFY
        return DONE
