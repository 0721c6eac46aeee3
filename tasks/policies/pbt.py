"""``pbt``: Planning-before-Trial (FunCoder-style baseline): the planner always plans first,
the generator implements from the plan, verified once. Pays for planning on every problem."""

from tasks.policies.state import DONE, IMPLEMENT, PLAN, START, VERIFY, Policy, PolicyState


class PlanningBeforeTrial(Policy):
    name = "pbt"
    uses_planner = True

    def next_phase(self, state: PolicyState) -> str:
        if state.model_error:
            return DONE
        if state.phase == START:
            return PLAN
        if state.phase == PLAN:
            return IMPLEMENT
        if state.phase == IMPLEMENT:
            return VERIFY
        return DONE
