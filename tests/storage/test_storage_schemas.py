"""The stored schemas only grow: version 1's columns keep their names, order and types.

If this fails you renamed, retyped, reordered or removed a column: add a new one instead (and
bump SCHEMA_VERSION), so files already written keep reading the same way.
"""

from __future__ import annotations

from tasks.storage.schemas import SCHEMA_VERSION, SCHEMAS

KEY = [
    ("schema_version", "int32"), ("chunk_id", "string"), ("run_id", "string"),
    ("dataset_name", "string"), ("dataset_version", "string"), ("dataset_sha256", "string"),
    ("task_id", "string"), ("policy", "string"), ("policy_spec", "string"),
    ("generator_model", "string"), ("planner_model", "string"), ("seed", "int64"),
]
VERSION_1 = {
    "calls": KEY + [
        ("call_index", "int32"), ("step", "int32"), ("phase", "string"), ("role", "string"),
        ("model", "string"), ("input_tokens", "int64"), ("output_tokens", "int64"),
        ("cost_usd", "double"), ("cost_weight", "double"), ("latency_ms", "double"),
        ("cached", "bool"), ("error", "string"), ("attempts", "int32"),
        ("request_sha256", "string"), ("response_text", "string"),
    ],
    "verifications": KEY + [
        ("verification_index", "int32"), ("step", "int32"), ("phase", "string"),
        ("test_source", "string"), ("passed", "bool"), ("status", "string"),
        ("tests_total", "int32"), ("tests_passed", "int32"), ("first_failure", "string"),
        ("duration_ms", "double"), ("program_sha256", "string"),
    ],
    "outcomes": KEY + [
        ("passed", "bool"), ("status", "string"), ("suites_passed", "map<string, bool>"),
        ("final_program", "string"), ("planner_invoked", "bool"), ("replans", "int32"),
        ("model_calls", "int32"), ("error", "string"), ("started_at", "timestamp[us, tz=UTC]"),
        ("finished_at", "timestamp[us, tz=UTC]"),
    ],
}


def test_version_1_columns_are_a_prefix_of_every_schema():
    assert SCHEMA_VERSION >= 1
    for table, columns in VERSION_1.items():
        current = [(field.name, str(field.type)) for field in SCHEMAS[table]]
        assert current[: len(columns)] == columns, table


def test_columns_added_after_version_1_are_nullable():
    for table, columns in VERSION_1.items():
        added = list(SCHEMAS[table])[len(columns):]
        assert all(field.nullable for field in added), (table, [f.name for f in added])
        if added:
            assert SCHEMA_VERSION > 1, f"{table} grew: bump SCHEMA_VERSION"
