-- Purpose: How work items end, per run, benchmark, policy and model configuration: each final status with its category and exception type, counts, shares, submissions accepted without any test, and example problems.
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
--   $policy  optional  restrict to this policy label; not given (NULL) = every policy
-- Columns:
--   run_id  the run
--   dataset_name  the benchmark
--   policy  policy label
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   status  final status ("passed", a hidden suite's sandbox status, "error:model")
--   category  passed | wrong_answer (status failed) | exception (error:<Type>) | timeout |
--     syntax_error | resource_limit (memory_exceeded, output_limit) | crashed | no_result |
--     no_tests | model_error (error:model: a model call failed) | other
--   exception_type  the <Type> of an error:<Type> status; NULL otherwise
--   work_items  items ending with this status
--   share  work_items / all items of the configuration
--   share_of_failures  work_items / failed items of the configuration; NULL for passed
--   accepted_unverified  of these items, those submitted without any test to check them on
--   example_task_ids  up to three task_ids with this status, sorted
WITH items AS (
    SELECT run_id, dataset_name, policy, generator_model, planner_model, task_id, passed,
           status, coalesce(accepted_unverified, false) AS accepted_unverified,
           CASE WHEN status = 'passed' THEN 'passed'
                WHEN status = 'failed' THEN 'wrong_answer'
                WHEN status = 'error:model' THEN 'model_error'
                WHEN status LIKE 'error:%' THEN 'exception'
                WHEN status IN ('timeout', 'syntax_error', 'crashed', 'no_result', 'no_tests')
                    THEN status
                WHEN status IN ('memory_exceeded', 'output_limit') THEN 'resource_limit'
                ELSE 'other' END AS category
    FROM outcomes
    WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
      AND ($policy IS NULL OR policy = CAST($policy AS VARCHAR))
)
SELECT run_id, dataset_name, policy, generator_model, planner_model, status, category,
       CASE WHEN category = 'exception' THEN substr(status, 7) END AS exception_type,
       count(*) AS work_items,
       count(*) / sum(count(*)) OVER config AS share,
       CASE WHEN category <> 'passed' THEN
           count(*) / sum(count(*) FILTER (WHERE NOT passed)) OVER config END AS share_of_failures,
       count(*) FILTER (WHERE accepted_unverified) AS accepted_unverified,
       list_slice(list_sort(list_distinct(list(task_id))), 1, 3) AS example_task_ids
FROM items
GROUP BY run_id, dataset_name, policy, generator_model, planner_model, status, category
WINDOW config AS (PARTITION BY run_id, dataset_name, policy, generator_model, planner_model)
ORDER BY run_id, dataset_name, generator_model, planner_model, policy, work_items DESC, status
