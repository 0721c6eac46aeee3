-- Purpose: How work items end, per run, policy and model configuration: counts and share of each final status, split by the first public-test failure status of the items that failed.
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
--   $policy  optional  restrict to this policy; not given (NULL) = every policy
-- Columns:
--   run_id  the run
--   policy  policy name
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   status  final status of the work item ("passed", a hidden suite's failure status, "error:...")
--   first_public_failure  for failed items: status of the first public verification that did
--     not pass ("none" if every public verification passed or there was none); NULL for passed
--   work_items  items with this status and first public failure
--   share  work_items / all items of the run, policy and configuration
--   share_of_status  work_items / items of the run, policy, configuration and status
WITH items AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model, passed, status
    FROM outcomes
    WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
      AND ($policy IS NULL OR policy = CAST($policy AS VARCHAR))
),
first_public_failure AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           arg_min(status, verification_index) AS first_public_failure
    FROM verifications
    WHERE test_source = 'public' AND NOT passed
    GROUP BY ALL
),
labelled AS (
    SELECT i.run_id, i.policy, i.generator_model, i.planner_model, i.status,
           CASE WHEN i.passed THEN NULL
                ELSE coalesce(f.first_public_failure, 'none') END AS first_public_failure
    FROM items AS i
    LEFT JOIN first_public_failure AS f
      USING (run_id, chunk_id, task_id, policy, seed, generator_model, planner_model)
)
SELECT run_id, policy, generator_model, planner_model, status, first_public_failure,
       count(*) AS work_items,
       count(*) / sum(count(*)) OVER (PARTITION BY run_id, policy, generator_model, planner_model)
           AS share,
       count(*) / sum(count(*)) OVER (
           PARTITION BY run_id, policy, generator_model, planner_model, status) AS share_of_status
FROM labelled
GROUP BY run_id, policy, generator_model, planner_model, status, first_public_failure
ORDER BY run_id, generator_model, planner_model, policy, work_items DESC, status,
         first_public_failure NULLS FIRST
