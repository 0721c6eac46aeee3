"""The Arrow schemas of the three stored tables: ``calls``, ``verifications``, ``outcomes``.

Guarantees: every Parquet file patflow writes has exactly one of these schemas, with
``SCHEMA_VERSION`` in its ``schema_version`` column. The schemas only grow: a new column is
appended (nullable, so older files read as NULL through ``union_by_name``); a column is never
renamed, retyped or removed. Bump ``SCHEMA_VERSION`` whenever a column is added.

Every row carries the work-item key and its provenance (the ``KEY_FIELDS``), so any single row
says which run, dataset, problem, policy (with its full spec as JSON), models and seed made it.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 2  # 2: tree position on calls/verifications, policy detail on outcomes

TABLE_NAMES = ("calls", "verifications", "outcomes")

# Columns shared by every table, in this order, first.
KEY_FIELDS: tuple[pa.Field, ...] = (
    pa.field("schema_version", pa.int32(), nullable=False),
    pa.field("chunk_id", pa.string(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("dataset_name", pa.string(), nullable=False),
    pa.field("dataset_version", pa.string(), nullable=False),
    pa.field("dataset_sha256", pa.string(), nullable=False),
    pa.field("task_id", pa.string(), nullable=False),
    pa.field("policy", pa.string(), nullable=False),
    pa.field("policy_spec", pa.string(), nullable=False),  # PolicySpec.to_json()
    pa.field("generator_model", pa.string(), nullable=False),
    pa.field("planner_model", pa.string(), nullable=False),
    pa.field("seed", pa.int64(), nullable=False),
)

# schema 2: where in a policy's tree a call or verification happened (flat policies: "root", 0).
TREE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("node_id", pa.string()),
    pa.field("parent_node_id", pa.string()),
    pa.field("depth", pa.int32()),
    pa.field("attempt", pa.int32()),
    pa.field("sample_index", pa.int32()),
)

CALLS_SCHEMA = pa.schema(
    [
        *KEY_FIELDS,
        pa.field("call_index", pa.int32(), nullable=False),  # order within the work item
        pa.field("step", pa.int32(), nullable=False),
        pa.field("phase", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),  # generator | planner
        pa.field("model", pa.string(), nullable=False),
        pa.field("input_tokens", pa.int64(), nullable=False),
        pa.field("output_tokens", pa.int64(), nullable=False),
        # List price of the call's tokens, cache hits included; billed = cost_usd where NOT cached.
        pa.field("cost_usd", pa.float64(), nullable=False),
        pa.field("cost_weight", pa.float64()),  # the model's relative-cost weight, if known
        pa.field("latency_ms", pa.float64(), nullable=False),
        pa.field("cached", pa.bool_(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("attempts", pa.int32(), nullable=False),
        pa.field("request_sha256", pa.string(), nullable=False),
        pa.field("response_text", pa.string(), nullable=False),
        *TREE_FIELDS,
        pa.field("prompt_sha256", pa.string()),
    ]
)

VERIFICATIONS_SCHEMA = pa.schema(
    [
        *KEY_FIELDS,
        pa.field("verification_index", pa.int32(), nullable=False),  # order within the item
        pa.field("step", pa.int32(), nullable=False),
        pa.field("phase", pa.string(), nullable=False),
        pa.field("test_source", pa.string(), nullable=False),  # public | hidden:<suite>
        pa.field("passed", pa.bool_(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("tests_total", pa.int32(), nullable=False),
        pa.field("tests_passed", pa.int32(), nullable=False),
        pa.field("first_failure", pa.string(), nullable=False),
        pa.field("duration_ms", pa.float64(), nullable=False),
        pa.field("program_sha256", pa.string(), nullable=False),
        *TREE_FIELDS,  # schema 2
    ]
)

OUTCOMES_SCHEMA = pa.schema(
    [
        *KEY_FIELDS,
        pa.field("passed", pa.bool_(), nullable=False),  # every hidden suite passed
        pa.field("status", pa.string(), nullable=False),
        # suite name -> passed; in SQL: suites_passed['plus'] is NULL where the suite is absent.
        pa.field("suites_passed", pa.map_(pa.string(), pa.bool_()), nullable=False),
        pa.field("final_program", pa.string(), nullable=False),
        pa.field("planner_invoked", pa.bool_(), nullable=False),
        pa.field("replans", pa.int32(), nullable=False),
        pa.field("model_calls", pa.int32(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("started_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("finished_at", pa.timestamp("us", tz="UTC"), nullable=False),
        # schema 2: what the policy did to reach its submission.
        pa.field("nodes", pa.int32()),
        pa.field("max_depth", pa.int32()),
        pa.field("decompositions", pa.int32()),
        pa.field("reverts", pa.int32()),
        pa.field("accepted_unverified", pa.bool_()),
        pa.field("selected_on", pa.string()),
        pa.field("selected_tests_total", pa.int32()),
        pa.field("selected_tests_passed", pa.int32()),
        pa.field("root_trial_passed", pa.bool_()),
        pa.field("tree_json", pa.string()),
        pa.field("cost_usd", pa.float64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "calls": CALLS_SCHEMA,
    "verifications": VERIFICATIONS_SCHEMA,
    "outcomes": OUTCOMES_SCHEMA,
}
