-- Purpose: The configurations on the cost-accuracy frontier, per run and benchmark and over all of a run's benchmarks: no other configuration of the same scope is at least as accurate for at most the cost (and strictly better in one).
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
--   $cost_measure  optional  'usd' (list-price USD per problem) or 'weighted' (cost_weight x
--     tokens per problem, the paper's measure); NULL = 'usd'
--   $include_dominated  optional  'true' = also list the dominated configurations; NULL = false
-- Columns:
--   run_id  the run
--   scope  the benchmark (dataset_name), or '(all)' for every benchmark of the run pooled
--   policy  policy label
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   problems  problems of the scope with a committed outcome
--   pass_at_1  mean over problems of the fraction of seeds passing every hidden suite
--   cost  mean cost per problem in the chosen measure (NULL if a call lacks a cost_weight
--     under 'weighted')
--   on_frontier  true when no configuration of the scope dominates this one
--   dominated_by  for dominated rows: the dominating configuration with the highest pass@1
--     (then lowest cost), as 'policy [generator + planner]'; NULL on the frontier
WITH item_calls AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           sum(cost_usd) AS cost_usd,
           sum(cost_weight * (input_tokens + output_tokens)) AS weighted_tokens,
           count(*) FILTER (WHERE cost_weight IS NULL) AS unweighted_calls
    FROM calls
    WHERE $run_id IS NULL OR run_id = CAST($run_id AS VARCHAR)
    GROUP BY ALL
),
per_item AS MATERIALIZED (
    SELECT o.run_id, o.dataset_name, o.task_id, o.policy, o.generator_model, o.planner_model,
           o.passed,
           coalesce(c.cost_usd, 0) AS cost_usd,
           coalesce(c.weighted_tokens, 0) AS weighted_tokens,
           coalesce(c.unweighted_calls, 0) AS unweighted_calls
    FROM outcomes AS o
    LEFT JOIN item_calls AS c
      USING (run_id, chunk_id, task_id, policy, seed, generator_model, planner_model)
    WHERE $run_id IS NULL OR o.run_id = CAST($run_id AS VARCHAR)
),
per_problem AS MATERIALIZED (
    SELECT run_id, dataset_name, task_id, policy, generator_model, planner_model,
           avg(passed::DOUBLE) AS pass_rate,
           avg(CASE WHEN coalesce(CAST($cost_measure AS VARCHAR), 'usd') = 'weighted'
                    THEN weighted_tokens ELSE cost_usd END) AS cost,
           sum(unweighted_calls) AS unweighted_calls
    FROM per_item
    GROUP BY ALL
),
points AS (
    SELECT run_id, scope, policy, generator_model, planner_model,
           count(*) AS problems,
           avg(pass_rate) AS pass_at_1,
           CASE WHEN coalesce(CAST($cost_measure AS VARCHAR), 'usd') = 'usd'
                  OR sum(unweighted_calls) = 0 THEN avg(cost) END AS cost
    FROM (
        SELECT *, dataset_name AS scope FROM per_problem
        UNION ALL
        -- problem ids are only unique within a benchmark: pool on (benchmark, task_id)
        SELECT *, '(all)' AS scope FROM per_problem
    )
    GROUP BY ALL
),
dominance AS (
    SELECT p.run_id, p.scope, p.policy, p.generator_model, p.planner_model,
           arg_max(q.policy || ' [' || q.generator_model || ' + ' || q.planner_model || ']',
                   (q.pass_at_1, -q.cost)) AS dominated_by
    FROM points AS p
    JOIN points AS q
      ON q.run_id = p.run_id AND q.scope = p.scope
     AND q.pass_at_1 >= p.pass_at_1 AND q.cost <= p.cost
     AND (q.pass_at_1 > p.pass_at_1 OR q.cost < p.cost)
    GROUP BY ALL
)
SELECT p.run_id, p.scope, p.policy, p.generator_model, p.planner_model, p.problems,
       p.pass_at_1, p.cost,
       d.dominated_by IS NULL AND p.cost IS NOT NULL AS on_frontier,
       d.dominated_by
FROM points AS p
LEFT JOIN dominance AS d USING (run_id, scope, policy, generator_model, planner_model)
WHERE coalesce(CAST($include_dominated AS BOOLEAN), false)
   OR (d.dominated_by IS NULL AND p.cost IS NOT NULL)
ORDER BY p.run_id, p.scope = '(all)', p.scope, p.cost, p.pass_at_1 DESC, p.policy
