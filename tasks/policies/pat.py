"""``pat``: Planning-after-Trial.

The generator tries first; the attempt is verified on the tests the policy may see; only on
failure does the planner decompose the problem, and the generator implements from the plan.
Re-planning is bounded by ``max_plans`` and stops early when a plan's implementation passes
some but no more public tests than the best attempt so far (as the authors' DFS loop does); the
submitted program is then the best one seen.
"""

from tasks.policies.params import Param
from tasks.policies.state import DONE, GENERATE, IMPLEMENT, PLAN, START, VERIFY, Policy, PolicyState


class PlanningAfterTrial(Policy):
    name = "pat"
    uses_planner = True
    PARAMS = (Param("max_plans", int, 3, "plans made at most after a failed trial", minimum=0),)

    @property
    def max_plans(self) -> int:
        return self.params["max_plans"]

    def next_phase(self, state: PolicyState) -> str:
        if state.model_error:
            return DONE
        if state.phase == START:
            return GENERATE
        if state.phase in (GENERATE, IMPLEMENT):
            return VERIFY
        if state.phase == PLAN:
            return IMPLEMENT
        if state.phase == VERIFY:
            if state.verdict is None or state.verdict.passed:
                return DONE
            if state.plans_made >= self.max_plans:
                return DONE
            if state.plans_made > 0 and not state.improved and state.verdict.tests_passed > 0:
                return DONE  # re-planning stopped helping: submit the best attempt
            return PLAN
        return DONE
