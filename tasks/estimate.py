"""What a sweep will cost before it runs: the sweep (or a seeded sample of its problems) run
with the simulator standing in for each real model, priced at the REAL models' prices.

Guarantees:
- No request reaches a real endpoint: every model of the sweep is replaced by ``sim/<skill>``
  (in-process, no ``api_base``) carrying the real model's prices (the config's overrides, else
  litellm's local price map) and weight, so each simulated call's ``cost_usd`` is its token
  counts at the real prices. The sim run writes to its own temporary store, never the sweep's.
- The projection of a (benchmark, policy variant, configuration) cell is the sim run's calls,
  tokens and USD, times ``problems selected / problems run`` (1 without ``--sample``); its range
  is the 5th-95th percentile of that total over a seeded bootstrap of the problems run.
- The simulator's skill per model is the config's ``estimate_skill`` or the default by role
  (a planner anywhere is ``large``, a generator only ``small``). The simulator says nothing
  about a real model's accuracy: the projection is of tokens and prices, and its range does not
  cover a real model writing much longer or shorter answers.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tasks.records import BenchmarkSelection, ModelConfig, ModelConfiguration, PolicyVariant, RunConfig

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class CostProjection:
    benchmark: str
    policy: str
    configuration: str
    generator_model: str
    planner_model: str
    problems_run: int
    problems: int
    calls: float
    input_tokens: float
    output_tokens: float
    usd: float
    usd_low: float
    usd_high: float
    price_source: str  # of the USD prices, per role: "generator=litellm planner=config"


def stand_in(config: ModelConfig, skill: str) -> ModelConfig:
    """The simulated model that answers for ``config``, priced like it."""
    from tasks.models import model_pricing

    pricing = model_pricing(config)
    return ModelConfig(
        model=f"sim/{skill}",
        max_concurrency=64,
        input_usd_per_mtok=pricing.input_usd_per_mtok,
        output_usd_per_mtok=pricing.output_usd_per_mtok,
        cost_weight=pricing.cost_weight,
    )


def price_source(config: ModelConfig) -> str:
    from tasks.models import model_pricing

    return model_pricing(config).source


def estimate(config: RunConfig, sample: int | None = None, store: str | None = None,
             progress=None) -> list[CostProjection]:  # fmt: skip
    """Run ``config`` on the simulator (into ``store``, default a temporary directory that is
    removed) and project each cell's calls, tokens and USD at the real prices."""
    if store is None:
        with tempfile.TemporaryDirectory(prefix="patflow-estimate-") as directory:
            return estimate(config, sample, directory, progress)
    from tasks.sweep import plan_chunks, run_chunk

    skills = dict(config.estimate_skills)
    selections = {}
    for selection in config.benchmarks:
        selections[selection.dataset.name] = (selection, _sample_of(selection, sample, config.data_dir))
    projections: list[CostProjection] = []
    for index, configuration in enumerate(config.configurations):
        simulated = ModelConfiguration(
            configuration.name,
            stand_in(configuration.generator, skills.get(configuration.generator.model, "small")),
            stand_in(configuration.planner, skills.get(configuration.planner.model, "large")),
        )
        variants = tuple(
            PolicyVariant(v.spec, (configuration.name,)) for v in config.policies if configuration.name in v.configurations
        )
        run = dataclasses.replace(
            config,
            run_id=f"estimate-{index}",
            store=str(store),
            cache_dir=None,  # every call is a fresh simulated call: its tokens are the projection's
            benchmarks=tuple(run_selection for _, run_selection in selections.values()),
            configurations=(simulated,),
            policies=variants,
            chunk_size=max(config.chunk_size or 64, 64),
        )
        chunks, _ = plan_chunks(run)
        for chunk in chunks:
            summary = run_chunk(chunk)
            if progress is not None:
                progress(configuration.name, summary.items)
        projections += _project(store, run.run_id, configuration, selections, config.seeds)
    return projections


def _sample_of(selection: BenchmarkSelection, sample: int | None, data_dir) -> BenchmarkSelection:
    if sample is None or sample >= selection.problems_selected:
        return selection
    from tasks.benchmarks import load_benchmark
    from tasks.sweep_config import select_problems

    benchmark = load_benchmark(selection.name, data_dir, public_tests=selection.public_tests)
    chosen = select_problems(selection, benchmark.problems)
    picked = sorted(random.Random(selection.sample_seed).sample(range(len(chosen)), sample))
    return dataclasses.replace(
        selection, limit=None, sample=None, task_ids=tuple(chosen[i].task_id for i in picked), problems_selected=sample
    )


def _project(store, run_id: str, configuration: ModelConfiguration, selections, seeds: int) -> list[CostProjection]:
    from tasks.storage import connect

    con = connect(store, [run_id])
    try:
        rows = con.execute(
            """
            SELECT o.dataset_name, o.policy, o.task_id,
                   count(c.call_index) AS calls,
                   coalesce(sum(c.input_tokens), 0) AS input_tokens,
                   coalesce(sum(c.output_tokens), 0) AS output_tokens,
                   coalesce(sum(c.cost_usd), 0) AS usd
            FROM outcomes AS o
            LEFT JOIN calls AS c
              ON c.chunk_id = o.chunk_id AND c.task_id = o.task_id AND c.policy_spec = o.policy_spec
             AND c.seed = o.seed AND c.dataset_name = o.dataset_name
            GROUP BY ALL
            ORDER BY ALL
            """
        ).fetchall()
    finally:
        con.close()
    cells: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for dataset, policy, _task_id, calls, input_tokens, output_tokens, usd in rows:
        cells[(dataset, policy)].append((calls, input_tokens, output_tokens, usd))
    sources = f"generator={price_source(configuration.generator)} planner={price_source(configuration.planner)}"
    projections = []
    for (dataset, policy), per_problem in sorted(cells.items()):
        selection, run_selection = selections[dataset]
        scale = selection.problems_selected / max(len(per_problem), 1)
        low, high = bootstrap_range([p[3] for p in per_problem], selection.problems_selected)
        projections.append(
            CostProjection(
                benchmark=dataset, policy=policy, configuration=configuration.name,
                generator_model=configuration.generator.model, planner_model=configuration.planner.model,
                problems_run=len(per_problem), problems=selection.problems_selected,
                calls=sum(p[0] for p in per_problem) * scale,
                input_tokens=sum(p[1] for p in per_problem) * scale,
                output_tokens=sum(p[2] for p in per_problem) * scale,
                usd=sum(p[3] for p in per_problem) * scale, usd_low=low, usd_high=high, price_source=sources,
            )  # fmt: skip
        )
    return projections


def bootstrap_range(per_problem_usd: list[float], problems: int) -> tuple[float, float]:
    """5th and 95th percentile of the projected total over a seeded bootstrap of the problems."""
    if not per_problem_usd:
        return 0.0, 0.0
    rng = random.Random(BOOTSTRAP_SEED)
    count = len(per_problem_usd)
    totals = sorted(
        sum(per_problem_usd[rng.randrange(count)] for _ in range(count)) / count * problems
        for _ in range(BOOTSTRAP_SAMPLES)
    )
    return totals[int(0.05 * (BOOTSTRAP_SAMPLES - 1))], totals[int(0.95 * (BOOTSTRAP_SAMPLES - 1))]
