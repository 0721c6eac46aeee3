-- Purpose: Work items whose first public verification disagreed with the final hidden score: "rescued" (first trial failed the public tests, final answer passed every hidden suite) and "weak_public_tests" (first trial passed the public tests, final answer failed a hidden suite).
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
--   $policy  optional  restrict to this policy; not given (NULL) = 'pat'
-- Columns:
--   run_id  the run
--   policy  policy name
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   task_id  the problem
--   seed  the seed of the work item
--   category  'rescued' or 'weak_public_tests'
--   trial_public_status  status of the first public verification
--   final_status  the work item's final status
--   planner_invoked  whether the planner was called
--   replans  re-plans after the first plan
--   model_calls  model calls made by the work item
WITH items AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           passed, status, planner_invoked, replans, model_calls
    FROM outcomes
    WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
      AND policy = coalesce(CAST($policy AS VARCHAR), 'pat')
),
first_trial AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           arg_min(passed, verification_index) AS trial_public_passed,
           arg_min(status, verification_index) AS trial_public_status
    FROM verifications
    WHERE test_source = 'public'
    GROUP BY ALL
)
SELECT i.run_id, i.policy, i.generator_model, i.planner_model, i.task_id, i.seed,
       CASE WHEN NOT t.trial_public_passed THEN 'rescued' ELSE 'weak_public_tests' END
           AS category,
       t.trial_public_status,
       i.status AS final_status,
       i.planner_invoked, i.replans, i.model_calls
FROM items AS i
JOIN first_trial AS t
  USING (run_id, chunk_id, task_id, policy, seed, generator_model, planner_model)
WHERE (NOT t.trial_public_passed AND i.passed) OR (t.trial_public_passed AND NOT i.passed)
ORDER BY i.run_id, i.generator_model, i.planner_model, i.policy, category, i.task_id, i.seed
