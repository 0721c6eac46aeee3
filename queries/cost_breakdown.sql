-- Purpose: Where the tokens and money go, per run, benchmark, policy and model configuration: by role (generator, planner, test writer, repair), by request phase and by tree depth, each as totals, per-problem means and share of the configuration's cost.
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
--   $policy  optional  restrict to this policy label; NULL = every policy
-- Columns:
--   run_id  the run
--   dataset_name  the benchmark
--   policy  policy label
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   dimension  'role', 'phase' or 'depth': what `bucket` breaks the cost down by
--   bucket  role: 'test writer' (phase write_tests), 'repair' (phase repair), else the call's
--     role ('generator' or 'planner'); phase: the request kind (generate, write_tests,
--     decompose, repair, ...); depth: the tree depth of the node the call was made for
--   calls  model calls in the bucket
--   input_tokens  total input tokens (cache hits included)
--   output_tokens  total output tokens
--   cost_usd  total list-price USD (cache hits included)
--   weighted_tokens  sum of cost_weight x (input + output tokens); NULL if a call lacks a weight
--   mean_cost_usd_per_problem  cost_usd / problems of the configuration (not of the bucket)
--   mean_tokens_per_problem  (input + output tokens) / problems of the configuration
--   share_of_cost  cost_usd / the configuration's cost over all buckets of the dimension
--   share_of_tokens  tokens / the configuration's tokens over all buckets of the dimension
WITH labelled AS (
    SELECT run_id, dataset_name, policy, generator_model, planner_model, task_id,
           phase, role, coalesce(depth, 0) AS depth,
           CASE WHEN phase = 'write_tests' THEN 'test writer'
                WHEN phase = 'repair' THEN 'repair'
                ELSE role END AS role_bucket,
           input_tokens, output_tokens, cost_usd, cost_weight
    FROM calls
    WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
      AND ($policy IS NULL OR policy = CAST($policy AS VARCHAR))
),
problems AS (
    SELECT run_id, dataset_name, policy, generator_model, planner_model,
           count(DISTINCT task_id) AS problems
    FROM outcomes
    WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
      AND ($policy IS NULL OR policy = CAST($policy AS VARCHAR))
    GROUP BY ALL
),
buckets AS (
    SELECT run_id, dataset_name, policy, generator_model, planner_model,
           dimension, bucket,
           count(*) AS calls,
           sum(input_tokens)::BIGINT AS input_tokens,
           sum(output_tokens)::BIGINT AS output_tokens,
           sum(cost_usd) AS cost_usd,
           CASE WHEN count(*) FILTER (WHERE cost_weight IS NULL) = 0
                THEN sum(cost_weight * (input_tokens + output_tokens)) END AS weighted_tokens
    FROM (
        SELECT *, 'role' AS dimension, role_bucket AS bucket FROM labelled
        UNION ALL
        SELECT *, 'phase' AS dimension, phase AS bucket FROM labelled
        UNION ALL
        SELECT *, 'depth' AS dimension, CAST(depth AS VARCHAR) AS bucket FROM labelled
    )
    GROUP BY ALL
)
SELECT b.run_id, b.dataset_name, b.policy, b.generator_model, b.planner_model,
       b.dimension, b.bucket, b.calls, b.input_tokens, b.output_tokens, b.cost_usd,
       b.weighted_tokens,
       b.cost_usd / p.problems AS mean_cost_usd_per_problem,
       (b.input_tokens + b.output_tokens) / p.problems AS mean_tokens_per_problem,
       b.cost_usd / nullif(sum(b.cost_usd) OVER config_dimension, 0) AS share_of_cost,
       (b.input_tokens + b.output_tokens)
           / nullif(sum(b.input_tokens + b.output_tokens) OVER config_dimension, 0)
           AS share_of_tokens
FROM buckets AS b
JOIN problems AS p USING (run_id, dataset_name, policy, generator_model, planner_model)
WINDOW config_dimension AS (
    PARTITION BY b.run_id, b.dataset_name, b.policy, b.generator_model, b.planner_model,
                 b.dimension)
ORDER BY b.run_id, b.dataset_name, b.generator_model, b.planner_model, b.policy,
         b.dimension, b.cost_usd DESC, b.bucket
