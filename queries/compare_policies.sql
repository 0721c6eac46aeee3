-- Purpose: Per run, policy and model configuration: pass@1 on hidden tests and the mean cost of a work item (tokens and USD by role, the paper's weighted relative cost), relative to a reference configuration (default: `standard` with the same generator in the same run).
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
--   $reference_policy  optional  the policy costs are relative to; NULL = 'standard'
--   $reference_generator  optional  the generator model of the reference; NULL = the row's own
--     generator (each configuration is compared with the reference policy on its generator)
-- Columns:
--   run_id  the run
--   policy  policy name
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   problems  distinct task_ids with a committed outcome
--   work_items  committed (problem, seed) items
--   pass_at_1  mean over problems of the fraction of seeds passing every hidden suite
--   pass_at_1_base  same for the hidden suite `base` alone; NULL where no item has it
--   pass_at_1_plus  same for the hidden suite `plus` alone; NULL where no item has it
--   mean_generator_input_tokens  per work item, generator role (cache hits included)
--   mean_generator_output_tokens  per work item, generator role
--   mean_planner_input_tokens  per work item, planner role
--   mean_planner_output_tokens  per work item, planner role
--   mean_generator_cost_usd  list-price USD per work item, generator role (cache hits
--     included: the policy's own cost, whatever the cache saved)
--   mean_planner_cost_usd  list-price USD per work item, planner role
--   mean_cost_usd  list-price USD per work item, all roles
--   mean_billed_cost_usd  USD per work item actually paid: calls that were not cache hits
--   planner_invocation_rate  fraction of work items in which the planner was invoked
--   cost_relative_to_reference  mean_cost_usd / that of the reference (same run; by default
--     `standard` with the same generator); NULL if there is no reference or its cost is 0
--   mean_weighted_tokens  per work item: sum over calls of cost_weight x (input + output
--     tokens), cache hits included; NULL if any call of the configuration has no cost_weight
--   weighted_cost_relative_to_reference  the paper's relative cost: mean_weighted_tokens /
--     that of the reference (reference = 1.0)
WITH items AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           passed, suites_passed, planner_invoked
    FROM outcomes
    WHERE $run_id IS NULL OR run_id = CAST($run_id AS VARCHAR)
),
item_calls AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           sum(input_tokens) FILTER (WHERE role = 'generator') AS generator_input_tokens,
           sum(output_tokens) FILTER (WHERE role = 'generator') AS generator_output_tokens,
           sum(input_tokens) FILTER (WHERE role = 'planner') AS planner_input_tokens,
           sum(output_tokens) FILTER (WHERE role = 'planner') AS planner_output_tokens,
           sum(cost_usd) FILTER (WHERE role = 'generator') AS generator_cost_usd,
           sum(cost_usd) FILTER (WHERE role = 'planner') AS planner_cost_usd,
           sum(cost_usd) AS cost_usd,
           sum(cost_usd) FILTER (WHERE NOT cached) AS billed_cost_usd,
           sum(cost_weight * (input_tokens + output_tokens)) AS weighted_tokens,
           count(*) FILTER (WHERE cost_weight IS NULL) AS unweighted_calls
    FROM calls
    GROUP BY ALL
),
per_item AS (
    SELECT i.*,
           coalesce(c.generator_input_tokens, 0) AS generator_input_tokens,
           coalesce(c.generator_output_tokens, 0) AS generator_output_tokens,
           coalesce(c.planner_input_tokens, 0) AS planner_input_tokens,
           coalesce(c.planner_output_tokens, 0) AS planner_output_tokens,
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
per_problem AS (
    -- pass@1 averages seeds within a problem first, so problems with fewer seeds weigh the same
    SELECT run_id, policy, generator_model, planner_model, task_id,
           avg(passed::DOUBLE) AS pass_rate,
           avg(suites_passed['base']::DOUBLE) AS pass_rate_base,
           avg(suites_passed['plus']::DOUBLE) AS pass_rate_plus
    FROM per_item
    GROUP BY ALL
),
accuracy AS (
    SELECT run_id, policy, generator_model, planner_model,
           count(*) AS problems,
           avg(pass_rate) AS pass_at_1,
           avg(pass_rate_base) AS pass_at_1_base,
           avg(pass_rate_plus) AS pass_at_1_plus
    FROM per_problem
    GROUP BY ALL
),
cost AS (
    SELECT run_id, policy, generator_model, planner_model,
           count(*) AS work_items,
           avg(generator_input_tokens) AS mean_generator_input_tokens,
           avg(generator_output_tokens) AS mean_generator_output_tokens,
           avg(planner_input_tokens) AS mean_planner_input_tokens,
           avg(planner_output_tokens) AS mean_planner_output_tokens,
           avg(generator_cost_usd) AS mean_generator_cost_usd,
           avg(planner_cost_usd) AS mean_planner_cost_usd,
           avg(cost_usd) AS mean_cost_usd,
           avg(billed_cost_usd) AS mean_billed_cost_usd,
           avg(planner_invoked::DOUBLE) AS planner_invocation_rate,
           CASE WHEN sum(unweighted_calls) = 0 THEN avg(weighted_tokens) END
               AS mean_weighted_tokens
    FROM per_item
    GROUP BY ALL
),
reference AS (
    -- Keyed by generator only: the planner model does not change `standard`, which never calls
    -- it; a reference run under several planners is averaged over all of its items.
    SELECT run_id, generator_model,
           avg(cost_usd) AS reference_cost_usd,
           CASE WHEN sum(unweighted_calls) = 0 THEN avg(weighted_tokens) END
               AS reference_weighted_tokens
    FROM per_item
    WHERE policy = coalesce(CAST($reference_policy AS VARCHAR), 'standard')
    GROUP BY ALL
)
SELECT a.run_id, a.policy, a.generator_model, a.planner_model,
       a.problems, c.work_items,
       a.pass_at_1, a.pass_at_1_base, a.pass_at_1_plus,
       c.mean_generator_input_tokens, c.mean_generator_output_tokens,
       c.mean_planner_input_tokens, c.mean_planner_output_tokens,
       c.mean_generator_cost_usd, c.mean_planner_cost_usd, c.mean_cost_usd, c.mean_billed_cost_usd,
       c.planner_invocation_rate,
       c.mean_cost_usd / nullif(r.reference_cost_usd, 0) AS cost_relative_to_reference,
       c.mean_weighted_tokens,
       c.mean_weighted_tokens / nullif(r.reference_weighted_tokens, 0)
           AS weighted_cost_relative_to_reference
FROM accuracy AS a
JOIN cost AS c USING (run_id, policy, generator_model, planner_model)
LEFT JOIN reference AS r
  ON r.run_id = a.run_id
 AND r.generator_model = coalesce(CAST($reference_generator AS VARCHAR), a.generator_model)
ORDER BY a.run_id, a.generator_model, a.planner_model, a.policy
