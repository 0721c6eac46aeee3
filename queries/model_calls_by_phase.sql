-- Purpose: Model calls per run, policy, role, phase and model: how many, cache-hit rate, errors, retries, latency and tokens.
-- Parameters:
--   $run_id  optional  restrict to this run; not given (NULL) = every run in the views
--   $policy  optional  restrict to this policy; not given (NULL) = every policy
-- Columns:
--   run_id  the run
--   policy  policy name
--   role  generator or planner
--   phase  the policy phase that made the call (generate, plan, implement, ...)
--   model  the model string called
--   calls  number of calls
--   cache_hit_rate  fraction of calls answered from the response cache
--   errors  calls that failed after all retries
--   error_rate  errors / calls
--   mean_attempts  mean provider attempts per call (0 for cache hits)
--   mean_latency_ms  mean latency of calls that were not cache hits; NULL if all were
--   p95_latency_ms  95th percentile latency of calls that were not cache hits
--   input_tokens  total input tokens (cache hits included)
--   output_tokens  total output tokens (cache hits included)
--   mean_input_tokens  input tokens per call
--   mean_output_tokens  output tokens per call
--   cost_usd  list-price USD of the calls (cache hits included)
SELECT run_id, policy, role, phase, model,
       count(*) AS calls,
       avg(cached::DOUBLE) AS cache_hit_rate,
       count(*) FILTER (WHERE error IS NOT NULL) AS errors,
       avg((error IS NOT NULL)::DOUBLE) AS error_rate,
       avg(attempts) AS mean_attempts,
       avg(latency_ms) FILTER (WHERE NOT cached) AS mean_latency_ms,
       quantile_cont(latency_ms, 0.95) FILTER (WHERE NOT cached) AS p95_latency_ms,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       avg(input_tokens) AS mean_input_tokens,
       avg(output_tokens) AS mean_output_tokens,
       sum(cost_usd) AS cost_usd
FROM calls
WHERE ($run_id IS NULL OR run_id = CAST($run_id AS VARCHAR))
  AND ($policy IS NULL OR policy = CAST($policy AS VARCHAR))
GROUP BY ALL
ORDER BY run_id, policy, role, phase, model
