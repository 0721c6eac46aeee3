-- Purpose: USD (and weighted tokens) per correct solution, per run, policy and model configuration: what a passing answer costs.
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
-- Columns:
--   run_id  the run
--   policy  policy name
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   work_items  committed work items
--   correct  work items that passed every hidden suite
--   total_cost_usd  list-price USD of every call (cache hits included)
--   cost_usd_per_correct  total_cost_usd / correct; NULL when nothing passed
--   total_billed_cost_usd  USD actually paid (calls that were not cache hits)
--   billed_cost_usd_per_correct  total_billed_cost_usd / correct; NULL when nothing passed
--   weighted_tokens_per_correct  sum of cost_weight x (input + output tokens) / correct; NULL
--     when nothing passed or a call has no cost_weight
WITH items AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model, passed
    FROM outcomes
    WHERE $run_id IS NULL OR run_id = CAST($run_id AS VARCHAR)
),
item_calls AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           sum(cost_usd) AS cost_usd,
           sum(cost_usd) FILTER (WHERE NOT cached) AS billed_cost_usd,
           sum(cost_weight * (input_tokens + output_tokens)) AS weighted_tokens,
           count(*) FILTER (WHERE cost_weight IS NULL) AS unweighted_calls
    FROM calls
    GROUP BY ALL
),
totals AS (
    SELECT i.run_id, i.policy, i.generator_model, i.planner_model,
           count(*) AS work_items,
           count(*) FILTER (WHERE i.passed) AS correct,
           coalesce(sum(c.cost_usd), 0) AS total_cost_usd,
           coalesce(sum(c.billed_cost_usd), 0) AS total_billed_cost_usd,
           CASE WHEN coalesce(sum(c.unweighted_calls), 0) = 0
                THEN coalesce(sum(c.weighted_tokens), 0) END AS total_weighted_tokens
    FROM items AS i
    LEFT JOIN item_calls AS c
      USING (run_id, chunk_id, task_id, policy, seed, generator_model, planner_model)
    GROUP BY ALL
)
SELECT run_id, policy, generator_model, planner_model, work_items, correct,
       total_cost_usd,
       total_cost_usd / nullif(correct, 0) AS cost_usd_per_correct,
       total_billed_cost_usd,
       total_billed_cost_usd / nullif(correct, 0) AS billed_cost_usd_per_correct,
       total_weighted_tokens / nullif(correct, 0) AS weighted_tokens_per_correct
FROM totals
ORDER BY run_id, generator_model, planner_model, policy
