-- Purpose: Does PaT's trigger work? For trial-first policies (outcomes with a root-trial verdict): the confusion matrix of the policy's own root-trial verdict against the hidden verdict of its submission, the trigger's precision and recall against the trial's true hidden verdict (read from the baseline policy's first attempt on the same problem, seed and generator), the planner's success rate given a failed trial, and the problems the trial had right that planning made wrong.
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
--   $baseline_policy  optional  the policy whose submission is the generator's first attempt,
--     judged on hidden tests; NULL = 'standard'
-- Columns:
--   run_id  the run
--   dataset_name  the benchmark
--   policy  policy label (trial-first policies only: root_trial_passed is not NULL)
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   work_items  items with a root-trial verdict
--   trial_passed_hidden_passed  trial passed its own checks, submission passed hidden tests
--   trial_passed_hidden_failed  trial passed its own checks, submission failed (a missed trigger:
--     with a passing trial the submission is the trial)
--   trial_failed_hidden_passed  trial failed, planning followed, submission passed
--   trial_failed_hidden_failed  trial failed, planning followed, submission still failed
--   trigger_rate  share of items whose trial failed (the planner was triggered)
--   planner_success_given_failed_trial  trial_failed_hidden_passed / items whose trial failed
--   trigger_true_positives  triggered, and the baseline's first attempt failed hidden tests
--   trigger_false_positives  triggered, but the baseline's first attempt passed hidden tests
--   trigger_false_negatives  not triggered, and the submission (the trial) failed hidden tests
--   trigger_true_negatives  not triggered, and the submission passed hidden tests
--   trigger_precision  TP / (TP + FP): triggered items with a baseline only; NULL if none
--   trigger_recall  TP / (TP + FN); NULL if no positives
--   trial_right_planning_made_wrong  triggered items whose baseline first attempt passed hidden
--     tests but whose submission failed
--   triggered_without_baseline  triggered items with no baseline item to judge the trial by
WITH items AS (
    SELECT run_id, dataset_name, task_id, policy, seed, generator_model, planner_model,
           passed, root_trial_passed
    FROM outcomes
    WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
      AND root_trial_passed IS NOT NULL
),
baseline AS (
    -- the baseline never calls the planner: one verdict per (problem, seed, generator)
    SELECT run_id, dataset_name, task_id, seed, generator_model,
           arg_min(passed, planner_model) AS first_attempt_passed
    FROM outcomes
    WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
      AND policy = coalesce(CAST($baseline_policy AS VARCHAR), 'standard')
    GROUP BY ALL
),
judged AS (
    SELECT i.*, b.first_attempt_passed
    FROM items AS i
    LEFT JOIN baseline AS b USING (run_id, dataset_name, task_id, seed, generator_model)
),
counts AS (
    SELECT run_id, dataset_name, policy, generator_model, planner_model,
           count(*) AS work_items,
           count(*) FILTER (WHERE root_trial_passed AND passed) AS trial_passed_hidden_passed,
           count(*) FILTER (WHERE root_trial_passed AND NOT passed) AS trial_passed_hidden_failed,
           count(*) FILTER (WHERE NOT root_trial_passed AND passed) AS trial_failed_hidden_passed,
           count(*) FILTER (WHERE NOT root_trial_passed AND NOT passed)
               AS trial_failed_hidden_failed,
           count(*) FILTER (WHERE NOT root_trial_passed AND NOT first_attempt_passed)
               AS trigger_true_positives,
           count(*) FILTER (WHERE NOT root_trial_passed AND first_attempt_passed)
               AS trigger_false_positives,
           count(*) FILTER (WHERE NOT root_trial_passed AND first_attempt_passed AND NOT passed)
               AS trial_right_planning_made_wrong,
           count(*) FILTER (WHERE NOT root_trial_passed AND first_attempt_passed IS NULL)
               AS triggered_without_baseline
    FROM judged
    GROUP BY ALL
)
SELECT run_id, dataset_name, policy, generator_model, planner_model, work_items,
       trial_passed_hidden_passed, trial_passed_hidden_failed,
       trial_failed_hidden_passed, trial_failed_hidden_failed,
       (trial_failed_hidden_passed + trial_failed_hidden_failed) / work_items AS trigger_rate,
       trial_failed_hidden_passed
           / nullif(trial_failed_hidden_passed + trial_failed_hidden_failed, 0)
           AS planner_success_given_failed_trial,
       trigger_true_positives, trigger_false_positives,
       trial_passed_hidden_failed AS trigger_false_negatives,
       trial_passed_hidden_passed AS trigger_true_negatives,
       trigger_true_positives / nullif(trigger_true_positives + trigger_false_positives, 0)
           AS trigger_precision,
       trigger_true_positives / nullif(trigger_true_positives + trial_passed_hidden_failed, 0)
           AS trigger_recall,
       trial_right_planning_made_wrong, triggered_without_baseline
FROM counts
ORDER BY run_id, dataset_name, generator_model, planner_model, policy
