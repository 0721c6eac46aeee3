-- Purpose: Per run, benchmark, policy and model configuration: pass@1 on hidden tests (all suites, `base` and `plus` apart), mean tokens and cost per problem, cost per solved problem and cost relative to a reference configuration, each with a 95% bootstrap interval over problems, and the spread of pass@1 over seeds.
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
--   $reference_policy  optional  the policy costs are relative to; NULL = 'standard'
--   $reference_generator  optional  the reference's generator model; NULL = the row's own
--     generator (each configuration is compared with the reference policy on its generator)
--   $resamples  optional  bootstrap resamples; NULL = 1000
--   $bootstrap_seed  optional  seed of the bootstrap's random draws; NULL = 0
--   $confidence  optional  confidence level of the intervals; NULL = 0.95
-- Columns:
--   run_id  the run
--   dataset_name  the benchmark
--   policy  policy label (name plus non-model parameters)
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   problems  distinct task_ids with a committed outcome
--   seeds  distinct seeds
--   work_items  committed (problem, seed) items
--   pass_at_1  mean over problems of the fraction of seeds passing every hidden suite
--   pass_at_1_low  lower end of the bootstrap interval of pass_at_1 (problems resampled)
--   pass_at_1_high  upper end of that interval
--   pass_at_1_base  pass@1 on the hidden suite `base` alone; NULL where no item has it
--   pass_at_1_plus  pass@1 on the hidden suite `plus` alone; NULL where no item has it
--   seed_pass_at_1_mean  mean over seeds of the per-seed pass@1
--   seed_pass_at_1_sd  sample standard deviation of the per-seed pass@1 (NULL for one seed)
--   seed_pass_at_1_min  lowest per-seed pass@1
--   seed_pass_at_1_max  highest per-seed pass@1
--   mean_input_tokens  input tokens per problem (mean over its seeds), all roles
--   mean_output_tokens  output tokens per problem, all roles
--   mean_generator_cost_usd  list-price USD per problem, generator role (cache hits included)
--   mean_planner_cost_usd  list-price USD per problem, planner role
--   mean_cost_usd  list-price USD per problem, all roles (the policy's own cost)
--   mean_cost_usd_low  lower end of its bootstrap interval
--   mean_cost_usd_high  upper end
--   mean_billed_cost_usd  USD per problem actually paid (calls that were not cache hits)
--   cost_per_solved_usd  mean_cost_usd / pass_at_1: USD per solved problem; NULL if none
--   cost_per_solved_usd_low  lower end of its bootstrap interval (cost and pass resampled together)
--   cost_per_solved_usd_high  upper end
--   planner_invocation_rate  fraction of work items in which the planner was invoked
--   cost_relative_to_reference  mean USD per problem / the reference's, over the problems both
--     have; NULL without a reference or when its cost is 0
--   cost_relative_low  lower end of its paired bootstrap interval
--   cost_relative_high  upper end
--   mean_weighted_tokens  per problem: sum over calls of cost_weight x (input + output tokens);
--     NULL if any call of the configuration has no cost_weight
--   weighted_cost_relative_to_reference  the paper's relative cost: weighted tokens / the
--     reference's over the problems both have (reference = 1.0)
--   weighted_relative_low  lower end of its paired bootstrap interval
--   weighted_relative_high  upper end
WITH items AS (
    SELECT run_id, chunk_id, dataset_name, task_id, policy, seed, generator_model, planner_model,
           passed, suites_passed, planner_invoked
    FROM outcomes
    WHERE $run_id IS NULL OR run_id = CAST($run_id AS VARCHAR)
),
item_calls AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(cost_usd) FILTER (WHERE role = 'generator') AS generator_cost_usd,
           sum(cost_usd) FILTER (WHERE role = 'planner') AS planner_cost_usd,
           sum(cost_usd) AS cost_usd,
           sum(cost_usd) FILTER (WHERE NOT cached) AS billed_cost_usd,
           sum(cost_weight * (input_tokens + output_tokens)) AS weighted_tokens,
           count(*) FILTER (WHERE cost_weight IS NULL) AS unweighted_calls
    FROM calls
    WHERE $run_id IS NULL OR run_id = CAST($run_id AS VARCHAR)
    GROUP BY ALL
),
per_item AS MATERIALIZED (
    SELECT i.*,
           coalesce(c.input_tokens, 0) AS input_tokens,
           coalesce(c.output_tokens, 0) AS output_tokens,
           coalesce(c.generator_cost_usd, 0) AS generator_cost_usd,
           coalesce(c.planner_cost_usd, 0) AS planner_cost_usd,
           coalesce(c.cost_usd, 0) AS cost_usd,
           coalesce(c.billed_cost_usd, 0) AS billed_cost_usd,
           coalesce(c.weighted_tokens, 0) AS weighted_tokens,
           coalesce(c.unweighted_calls, 0) AS unweighted_calls
    FROM items AS i
    LEFT JOIN item_calls AS c
      USING (run_id, chunk_id, task_id, policy, seed, generator_model, planner_model)
),
per_problem AS MATERIALIZED (
    -- seeds are averaged within a problem first, so problems with fewer seeds weigh the same
    SELECT run_id, dataset_name, policy, generator_model, planner_model, task_id,
           avg(passed::DOUBLE) AS pass_rate,
           avg(suites_passed['base']::DOUBLE) AS pass_rate_base,
           avg(suites_passed['plus']::DOUBLE) AS pass_rate_plus,
           avg(input_tokens) AS input_tokens, avg(output_tokens) AS output_tokens,
           avg(generator_cost_usd) AS generator_cost_usd, avg(planner_cost_usd) AS planner_cost_usd,
           avg(cost_usd) AS cost_usd, avg(billed_cost_usd) AS billed_cost_usd,
           avg(weighted_tokens) AS weighted_tokens, sum(unweighted_calls) AS unweighted_calls
    FROM per_item
    GROUP BY ALL
),
reference AS (
    -- Keyed by generator only: the planner does not change `standard`, which never calls it; a
    -- reference run under several planners is averaged over them.
    SELECT run_id, dataset_name, generator_model, task_id,
           avg(cost_usd) AS reference_cost_usd,
           avg(weighted_tokens) AS reference_weighted_tokens,
           sum(unweighted_calls) AS reference_unweighted_calls
    FROM per_problem
    WHERE policy = coalesce(CAST($reference_policy AS VARCHAR), 'standard')
    GROUP BY ALL
),
with_reference AS (
    SELECT p.*, r.reference_cost_usd, r.reference_weighted_tokens, r.reference_unweighted_calls
    FROM per_problem AS p
    LEFT JOIN reference AS r
      ON r.run_id = p.run_id AND r.dataset_name = p.dataset_name AND r.task_id = p.task_id
     AND r.generator_model = coalesce(CAST($reference_generator AS VARCHAR), p.generator_model)
),
per_seed AS (
    SELECT run_id, dataset_name, policy, generator_model, planner_model, seed,
           avg(passed::DOUBLE) AS pass_at_1
    FROM per_item
    GROUP BY ALL
),
seed_spread AS (
    SELECT run_id, dataset_name, policy, generator_model, planner_model,
           count(*) AS seeds,
           avg(pass_at_1) AS seed_pass_at_1_mean,
           stddev_samp(pass_at_1) AS seed_pass_at_1_sd,
           min(pass_at_1) AS seed_pass_at_1_min,
           max(pass_at_1) AS seed_pass_at_1_max
    FROM per_seed
    GROUP BY ALL
),
item_counts AS (
    SELECT run_id, dataset_name, policy, generator_model, planner_model,
           count(*) AS work_items,
           avg(planner_invoked::DOUBLE) AS planner_invocation_rate
    FROM per_item
    GROUP BY ALL
),
configurations AS (
    SELECT run_id, dataset_name, policy, generator_model, planner_model,
           count(*) AS problems,
           avg(pass_rate) AS pass_at_1,
           avg(pass_rate_base) AS pass_at_1_base,
           avg(pass_rate_plus) AS pass_at_1_plus,
           avg(input_tokens) AS mean_input_tokens,
           avg(output_tokens) AS mean_output_tokens,
           avg(generator_cost_usd) AS mean_generator_cost_usd,
           avg(planner_cost_usd) AS mean_planner_cost_usd,
           avg(cost_usd) AS mean_cost_usd,
           avg(billed_cost_usd) AS mean_billed_cost_usd,
           sum(unweighted_calls) = 0 AS all_weighted,
           avg(weighted_tokens) AS weighted_tokens,
           sum(cost_usd) FILTER (WHERE reference_cost_usd IS NOT NULL)
               / nullif(sum(reference_cost_usd), 0) AS cost_relative_to_reference,
           CASE WHEN sum(unweighted_calls) = 0
                 AND coalesce(sum(reference_unweighted_calls), 1) = 0
                THEN sum(weighted_tokens) FILTER (WHERE reference_weighted_tokens IS NOT NULL)
                     / nullif(sum(reference_weighted_tokens), 0) END
               AS weighted_cost_relative_to_reference,
           list({'task_id': task_id, 'pass_rate': pass_rate, 'cost_usd': cost_usd,
                 'weighted_tokens': weighted_tokens, 'reference_cost_usd': reference_cost_usd,
                 'reference_weighted_tokens': reference_weighted_tokens}
                ORDER BY task_id) AS _problems
    FROM with_reference
    GROUP BY ALL
)
SELECT c.run_id, c.dataset_name, c.policy, c.generator_model, c.planner_model,
       c.problems, s.seeds, n.work_items,
       c.pass_at_1, c.pass_at_1_base, c.pass_at_1_plus,
       s.seed_pass_at_1_mean, s.seed_pass_at_1_sd, s.seed_pass_at_1_min, s.seed_pass_at_1_max,
       c.mean_input_tokens, c.mean_output_tokens,
       c.mean_generator_cost_usd, c.mean_planner_cost_usd, c.mean_cost_usd,
       c.mean_billed_cost_usd,
       c.mean_cost_usd / nullif(c.pass_at_1, 0) AS cost_per_solved_usd,
       n.planner_invocation_rate,
       c.cost_relative_to_reference,
       CASE WHEN c.all_weighted THEN c.weighted_tokens END AS mean_weighted_tokens,
       c.weighted_cost_relative_to_reference,
       c._problems,
       coalesce(CAST($resamples AS INTEGER), 1000) AS _resamples,
       coalesce(CAST($bootstrap_seed AS INTEGER), 0) AS _bootstrap_seed,
       coalesce(CAST($confidence AS DOUBLE), 0.95) AS _confidence
FROM configurations AS c
JOIN seed_spread AS s USING (run_id, dataset_name, policy, generator_model, planner_model)
JOIN item_counts AS n USING (run_id, dataset_name, policy, generator_model, planner_model)
ORDER BY c.run_id, c.dataset_name, c.generator_model, c.planner_model, c.policy
