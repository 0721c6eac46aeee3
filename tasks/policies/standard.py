"""``standard``: one generation, submitted as it is (the paper's Standard baseline).

No test is run and nothing is selected: the sample's code goes to the hidden tests. A sample
whose code cannot be read still goes (as the text it has), so a formatting failure is scored as
the failure it is rather than hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks import prompts
from tasks.policies.common import read_candidate, root_generate
from tasks.policies.engine import Policy, Submit
from tasks.policies.params import Param
from tasks.records import Problem


@dataclass(frozen=True)
class StandardState:
    problem: Problem


class Standard(Policy):
    name = "standard"
    PARAMS = (
        Param(
            "temperature", float, 0.8,
            "sampling temperature of the one generation",
            source="experiments/HumanEval-all-PaT/.hparams.json:23 (conquer_temperature; "
            "the vanilla method ships no hparams of its own)",
            minimum=0.0, maximum=2.0,
        ),
    )  # fmt: skip

    def start(self, problem: Problem, seed: int) -> StandardState:
        return StandardState(problem)

    def step(self, state: StandardState, observation):
        if observation is None:
            return state, root_generate(state.problem, 1, self.params["temperature"])
        if observation.all_failed:
            return state, Submit(None, error=observation.first_error)
        text = observation.texts[0]
        candidate = read_candidate(state.problem, text, None, signature=None)
        program = candidate.program
        if program is None:  # unreadable or off-target: score what the model wrote
            program = prompts.extract_code(text)
        return state, Submit(program)
