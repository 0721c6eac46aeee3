-- Purpose: Every committed submission with what a training-data export needs: the program, whether it passed every hidden suite, which suites it passed, the decomposition tree, tokens and provenance (the export keeps the passing ones and, for preference pairs, the failing ones).
-- Parameters:
--   none
-- Columns:
--   run_id  the run
--   dataset_name  the benchmark
--   dataset_version  its upstream version
--   dataset_sha256  sha256 of the file its problems were read from
--   task_id  the problem
--   policy  policy label
--   policy_spec  the full policy spec (JSON)
--   generator_model  the generator's model string
--   planner_model  the planner's model string
--   seed  the seed
--   passed  every hidden suite passed
--   status  final status
--   suites_passed  sorted names of the hidden suites the submission passed
--   suites_total  number of hidden suites scored
--   final_program  the submitted program
--   tree_json  the decomposition tree (JSON) where there was one; NULL otherwise
--   planner_invoked  whether the planner was called
--   input_tokens  input tokens of the work item's calls (cache hits included)
--   output_tokens  output tokens of the work item's calls
--   cost_usd  list-price USD of the work item's calls
WITH item_calls AS (
    SELECT run_id, chunk_id, task_id, policy, seed, generator_model, planner_model,
           sum(input_tokens)::BIGINT AS input_tokens, sum(output_tokens)::BIGINT AS output_tokens,
           sum(cost_usd) AS cost_usd
    FROM calls
    GROUP BY ALL
)
SELECT o.run_id, o.dataset_name, o.dataset_version, o.dataset_sha256, o.task_id, o.policy,
       o.policy_spec, o.generator_model, o.planner_model, o.seed, o.passed, o.status,
       list_sort([entry.key FOR entry IN map_entries(o.suites_passed) IF entry.value])
           AS suites_passed,
       cardinality(o.suites_passed) AS suites_total,
       o.final_program,
       nullif(o.tree_json, '') AS tree_json,
       o.planner_invoked,
       coalesce(c.input_tokens, o.input_tokens, 0) AS input_tokens,
       coalesce(c.output_tokens, o.output_tokens, 0) AS output_tokens,
       coalesce(c.cost_usd, o.cost_usd, 0) AS cost_usd
FROM outcomes AS o
LEFT JOIN item_calls AS c
  USING (run_id, chunk_id, task_id, policy, seed, generator_model, planner_model)
ORDER BY o.dataset_name, o.task_id, o.run_id, o.policy, o.generator_model, o.planner_model, o.seed
