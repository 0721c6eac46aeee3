-- Purpose: Example work items for the HTML report's drill-down: per configuration, up to $per_cell items of each final status and of each trial-verdict x hidden-verdict cell, with the final program, the decomposition tree and the first failing hidden test.
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
--   $per_cell  optional  examples kept per (configuration, status) and per (configuration,
--     trigger cell); NULL = 5
-- Columns:
--   run_id  the run
--   dataset_name  the benchmark
--   policy  policy label
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   task_id  the problem
--   seed  the seed
--   status  final status
--   passed  every hidden suite passed
--   root_trial_passed  the policy's own root-trial verdict (NULL for policies without a trial)
--   final_program  the submitted program
--   tree_json  the decomposition tree (JSON) where there was one; NULL otherwise
--   failing_test  detail of the first failing hidden verification ('' if none failed)
WITH first_hidden_failure AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           arg_min(first_failure, verification_index) AS failing_test
    FROM verifications
    WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
      AND test_source LIKE 'hidden:%' AND NOT passed
    GROUP BY ALL
),
ranked AS (
    SELECT o.run_id, o.dataset_name, o.policy, o.generator_model, o.planner_model, o.task_id,
           o.seed, o.status, o.passed, o.root_trial_passed, o.final_program,
           nullif(o.tree_json, '') AS tree_json, coalesce(f.failing_test, '') AS failing_test,
           row_number() OVER (PARTITION BY o.run_id, o.dataset_name, o.policy, o.generator_model,
                                           o.planner_model, o.status
                              ORDER BY o.task_id, o.seed) AS status_rank,
           row_number() OVER (PARTITION BY o.run_id, o.dataset_name, o.policy, o.generator_model,
                                           o.planner_model, o.root_trial_passed, o.passed
                              ORDER BY o.task_id, o.seed) AS trigger_rank
    FROM outcomes AS o
    LEFT JOIN first_hidden_failure AS f
      USING (run_id, chunk_id, task_id, policy, seed, generator_model, planner_model)
    WHERE $run_id IS NULL OR o.run_id = CAST($run_id AS VARCHAR)
)
SELECT run_id, dataset_name, policy, generator_model, planner_model, task_id, seed, status,
       passed, root_trial_passed, final_program, tree_json, failing_test
FROM ranked
WHERE least(status_rank, trigger_rank) <= coalesce(CAST($per_cell AS INTEGER), 5)
ORDER BY run_id, dataset_name, policy, generator_model, planner_model, task_id, seed
