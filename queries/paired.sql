-- Purpose: Two configurations on the same problems and seeds: how many (problem, seed) pairs both pass, only A, only B or neither, with McNemar's exact p-value on the discordant pairs.
-- Parameters:
--   $policy_a  required  policy label of configuration A
--   $policy_b  required  policy label of configuration B
--   $generator_a  optional  A's generator model; NULL = any
--   $planner_a  optional  A's planner model; NULL = any
--   $generator_b  optional  B's generator model; NULL = any
--   $planner_b  optional  B's planner model; NULL = any
--   $run_id_a  optional  the run A comes from; NULL = any run
--   $run_id_b  optional  the run B comes from; NULL = the same run as A
-- Columns:
--   run_id_a  A's run
--   run_id_b  B's run
--   dataset_name  the benchmark (pairs match on benchmark, task_id and seed)
--   policy_a  A's policy label
--   generator_a  A's generator model
--   planner_a  A's planner model
--   policy_b  B's policy label
--   generator_b  B's generator model
--   planner_b  B's planner model
--   pairs  (problem, seed) pairs both configurations have
--   both  pairs both passed
--   only_a  pairs only A passed
--   only_b  pairs only B passed
--   neither  pairs neither passed
--   pass_rate_a  A's pass rate over the pairs
--   pass_rate_b  B's pass rate over the pairs
--   mcnemar_p  two-sided exact McNemar p-value: binomial test of only_a among only_a + only_b
--     at p = 0.5 (scipy.stats.binomtest); 1 when no pair is discordant
WITH a AS (
    SELECT run_id, dataset_name, task_id, seed, policy, generator_model, planner_model, passed
    FROM outcomes
    WHERE policy = CAST($policy_a AS VARCHAR)
      AND ($generator_a IS NULL OR generator_model = CAST($generator_a AS VARCHAR))
      AND ($planner_a IS NULL OR planner_model = CAST($planner_a AS VARCHAR))
      AND ($run_id_a IS NULL OR run_id = CAST($run_id_a AS VARCHAR))
),
b AS (
    SELECT run_id, dataset_name, task_id, seed, policy, generator_model, planner_model, passed
    FROM outcomes
    WHERE policy = CAST($policy_b AS VARCHAR)
      AND ($generator_b IS NULL OR generator_model = CAST($generator_b AS VARCHAR))
      AND ($planner_b IS NULL OR planner_model = CAST($planner_b AS VARCHAR))
      AND ($run_id_b IS NULL OR run_id = CAST($run_id_b AS VARCHAR))
)
SELECT a.run_id AS run_id_a, b.run_id AS run_id_b, a.dataset_name,
       a.policy AS policy_a, a.generator_model AS generator_a, a.planner_model AS planner_a,
       b.policy AS policy_b, b.generator_model AS generator_b, b.planner_model AS planner_b,
       count(*) AS pairs,
       count(*) FILTER (WHERE a.passed AND b.passed) AS both,
       count(*) FILTER (WHERE a.passed AND NOT b.passed) AS only_a,
       count(*) FILTER (WHERE NOT a.passed AND b.passed) AS only_b,
       count(*) FILTER (WHERE NOT a.passed AND NOT b.passed) AS neither,
       avg(a.passed::DOUBLE) AS pass_rate_a,
       avg(b.passed::DOUBLE) AS pass_rate_b
FROM a
JOIN b
  ON b.dataset_name = a.dataset_name AND b.task_id = a.task_id AND b.seed = a.seed
 AND ($run_id_b IS NOT NULL OR b.run_id = a.run_id)
 AND (a.policy, a.generator_model, a.planner_model, a.run_id)
     IS DISTINCT FROM (b.policy, b.generator_model, b.planner_model, b.run_id)
GROUP BY ALL
ORDER BY run_id_a, run_id_b, a.dataset_name, generator_a, planner_a, generator_b, planner_b
