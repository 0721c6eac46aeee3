-- Purpose: Two runs of the same configurations (a scheduled sweep against its last good run): per benchmark, policy and model configuration, the (problem, seed) items that flipped each way, the pass@1 and cost change with bootstrap intervals over problems, and McNemar's exact p-value of the flips.
-- Parameters:
--   $run_a  required  the earlier (baseline) run
--   $run_b  required  the later run, compared with run_a
--   $resamples  optional  bootstrap resamples; NULL = 1000
--   $bootstrap_seed  optional  seed of the bootstrap's random draws; NULL = 0
--   $confidence  optional  confidence level of the intervals; NULL = 0.95
-- Columns:
--   dataset_name  the benchmark
--   policy  policy label
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   pairs  (problem, seed) items both runs have
--   problems  problems both runs have
--   fixed  items failing in run_a that pass in run_b
--   broken  items passing in run_a that fail in run_b
--   fixed_task_ids  sorted task_ids with at least one fixed item
--   broken_task_ids  sorted task_ids with at least one broken item
--   pass_at_1_a  run_a's pass@1 over the shared items (problems weighted equally)
--   pass_at_1_b  run_b's pass@1 over the shared items
--   pass_at_1_change  pass_at_1_b - pass_at_1_a
--   pass_at_1_change_low  lower end of its paired bootstrap interval (problems resampled)
--   pass_at_1_change_high  upper end
--   mean_cost_usd_a  run_a's list-price USD per problem over the shared items
--   mean_cost_usd_b  run_b's list-price USD per problem over the shared items
--   mean_cost_change  mean_cost_usd_b - mean_cost_usd_a
--   mean_cost_change_low  lower end of its paired bootstrap interval
--   mean_cost_change_high  upper end
--   mcnemar_p  two-sided exact McNemar p-value of fixed vs broken (scipy.stats.binomtest)
WITH item_calls AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           sum(cost_usd) AS cost_usd
    FROM calls
    WHERE run_id IN (CAST($run_a AS VARCHAR), CAST($run_b AS VARCHAR))
    GROUP BY ALL
),
items AS MATERIALIZED (
    SELECT o.run_id, o.dataset_name, o.task_id, o.policy, o.seed, o.generator_model,
           o.planner_model, o.passed, coalesce(c.cost_usd, 0) AS cost_usd
    FROM outcomes AS o
    LEFT JOIN item_calls AS c
      USING (run_id, chunk_id, task_id, policy, seed, generator_model, planner_model)
    WHERE o.run_id IN (CAST($run_a AS VARCHAR), CAST($run_b AS VARCHAR))
),
pairs AS (
    SELECT a.dataset_name, a.policy, a.generator_model, a.planner_model, a.task_id, a.seed,
           a.passed AS passed_a, b.passed AS passed_b, a.cost_usd AS cost_a, b.cost_usd AS cost_b
    FROM items AS a
    JOIN items AS b
      USING (dataset_name, policy, generator_model, planner_model, task_id, seed)
    WHERE a.run_id = CAST($run_a AS VARCHAR) AND b.run_id = CAST($run_b AS VARCHAR)
),
per_problem AS (
    SELECT dataset_name, policy, generator_model, planner_model, task_id,
           count(*) AS pairs,
           count(*) FILTER (WHERE NOT passed_a AND passed_b) AS fixed,
           count(*) FILTER (WHERE passed_a AND NOT passed_b) AS broken,
           avg(passed_a::DOUBLE) AS pass_rate_a, avg(passed_b::DOUBLE) AS pass_rate_b,
           avg(cost_a) AS cost_usd_a, avg(cost_b) AS cost_usd_b
    FROM pairs
    GROUP BY ALL
)
SELECT dataset_name, policy, generator_model, planner_model,
       sum(pairs)::BIGINT AS pairs,
       count(*) AS problems,
       sum(fixed)::BIGINT AS fixed,
       sum(broken)::BIGINT AS broken,
       coalesce(list(task_id ORDER BY task_id) FILTER (WHERE fixed > 0), []) AS fixed_task_ids,
       coalesce(list(task_id ORDER BY task_id) FILTER (WHERE broken > 0), []) AS broken_task_ids,
       avg(pass_rate_a) AS pass_at_1_a,
       avg(pass_rate_b) AS pass_at_1_b,
       avg(pass_rate_b) - avg(pass_rate_a) AS pass_at_1_change,
       avg(cost_usd_a) AS mean_cost_usd_a,
       avg(cost_usd_b) AS mean_cost_usd_b,
       avg(cost_usd_b) - avg(cost_usd_a) AS mean_cost_change,
       list({'task_id': task_id, 'pass_rate_a': pass_rate_a, 'pass_rate_b': pass_rate_b,
             'cost_usd_a': cost_usd_a, 'cost_usd_b': cost_usd_b} ORDER BY task_id) AS _problems,
       coalesce(CAST($resamples AS INTEGER), 1000) AS _resamples,
       coalesce(CAST($bootstrap_seed AS INTEGER), 0) AS _bootstrap_seed,
       coalesce(CAST($confidence AS DOUBLE), 0.95) AS _confidence
FROM per_problem
GROUP BY ALL
ORDER BY dataset_name, generator_model, planner_model, policy
