-- Purpose: The error types before vs after planning, for trial-first policies: for each item whose root trial failed, the status of the trial's first failing check against the submission's final hidden status.
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
-- Columns:
--   run_id  the run
--   dataset_name  the benchmark
--   policy  policy label
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   before_status  status of the first failing verification of the root trial (node 'root',
--     depth 0, attempt 0, phase 'verify'); 'unknown' where no such verification was stored
--   after_status  the work item's final status after planning ('passed' when it was fixed)
--   work_items  items with this before and after status
--   share  work_items / items of the configuration whose trial failed
WITH failed_trials AS (
    SELECT run_id, chunk_id, dataset_name, task_id, policy, seed, generator_model, planner_model,
           status
    FROM outcomes
    WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
      AND root_trial_passed = false
),
trial_failures AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           arg_min(status, verification_index) AS before_status
    FROM verifications
    WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
      AND NOT passed AND phase = 'verify'
      AND coalesce(node_id, 'root') = 'root' AND coalesce(depth, 0) = 0
      AND coalesce(attempt, 0) = 0
    GROUP BY ALL
)
SELECT f.run_id, f.dataset_name, f.policy, f.generator_model, f.planner_model,
       coalesce(t.before_status, 'unknown') AS before_status,
       f.status AS after_status,
       count(*) AS work_items,
       count(*) / sum(count(*)) OVER (
           PARTITION BY f.run_id, f.dataset_name, f.policy, f.generator_model, f.planner_model)
           AS share
FROM failed_trials AS f
LEFT JOIN trial_failures AS t
  USING (run_id, chunk_id, task_id, policy, seed, generator_model, planner_model)
GROUP BY f.run_id, f.dataset_name, f.policy, f.generator_model, f.planner_model,
         coalesce(t.before_status, 'unknown'), f.status
ORDER BY f.run_id, f.dataset_name, f.generator_model, f.planner_model, f.policy,
         work_items DESC, before_status, after_status
