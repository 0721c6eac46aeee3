"""Every query in queries/ is documented and tested (sqlite-utils style meta-test).

Fails on a .sql file without a well-formed header (Purpose / Parameters / Columns), whose
declared parameters differ from the ``$names`` its body uses, whose declared columns differ
from what it returns (run on an empty store, with its statistics post-step), or that no test
file mentions by name together with every one of its output columns.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.analysis.named import POST_STEPS, run_named
from tasks.storage import list_queries, queries_dir, run_query
from tasks.storage.views import parse_header

ROOT = Path(__file__).resolve().parents[1]
QUERY_FILES = sorted(queries_dir().glob("*.sql"))
PARAMETER_USE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def strip_sql_comments(text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def test_there_are_queries_and_list_queries_names_them_all():
    assert queries_dir() == ROOT / "queries"
    assert "policy_comparison" in {path.stem for path in QUERY_FILES}
    listed = dict(list_queries())
    assert set(listed) == {path.stem for path in QUERY_FILES}
    assert all(purpose.strip() for purpose in listed.values())


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda path: path.stem)
def test_header_declares_exactly_the_parameters_used(path):
    header = parse_header(path)
    used = set(PARAMETER_USE.findall(strip_sql_comments(path.read_text())))
    assert used == set(header.required_params) | set(header.optional_params), path.name


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda path: path.stem)
def test_header_declares_exactly_the_output_columns(path, tmp_path):
    header = parse_header(path)
    params = {name: "x" for name in header.required_params}
    table = run_named(str(tmp_path / "empty-store"), path.stem, params)
    assert tuple(table.column_names) == header.columns, path.name
    # The SQL itself selects every column except those its post-step computes, plus inputs
    # whose names start with "_" (which never reach the user).
    raw = run_query(tmp_path / "empty-store", path.stem, params).column_names
    added = {name for name, _ in POST_STEPS[path.stem].adds} if path.stem in POST_STEPS else set()
    assert [c for c in raw if not c.startswith("_")] == [c for c in header.columns if c not in added]
    assert added <= set(header.columns), path.name


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda path: path.stem)
def test_query_has_no_paths_inside(path):
    body = strip_sql_comments(path.read_text())
    assert not re.search(r"read_parquet|read_csv|read_json|\.parquet|'/", body), path.name


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda path: path.stem)
def test_some_test_mentions_the_query_and_names_its_columns(path):
    this_file = Path(__file__).resolve()
    mentions = [
        test_file.read_text()
        for test_file in (ROOT / "tests").rglob("test_*.py")
        if test_file.resolve() != this_file and f'"{path.stem}"' in test_file.read_text()
    ]
    assert mentions, f"{path.name}: no test runs it (mention \"{path.stem}\" in a test)"
    unnamed = [
        column for column in parse_header(path).columns
        if not any(f'"{column}"' in text for text in mentions)
    ]
    assert not unnamed, f"{path.name}: no test that runs it names the columns {unnamed}"


def test_the_meta_test_catches_an_undocumented_or_untested_query(tmp_path, monkeypatch):
    """The checks above, turned on a query that is wrong in each way, do fail."""
    from tasks.storage import QueryError

    monkeypatch.setenv("PATFLOW_QUERIES_DIR", str(tmp_path))
    (tmp_path / "no_header.sql").write_text("SELECT 1 AS a\n")
    with pytest.raises(QueryError, match="Purpose"):
        parse_header(tmp_path / "no_header.sql")
    undeclared = tmp_path / "zz_undeclared_column_query.sql"
    undeclared.write_text("-- Purpose: x.\n-- Parameters:\n--   none\n-- Columns:\n--   a  one\n"
                          "SELECT 1 AS a, 2 AS b\n")
    with pytest.raises(AssertionError):
        test_header_declares_exactly_the_output_columns(undeclared, tmp_path)
    with pytest.raises(AssertionError, match="no test runs it"):
        test_some_test_mentions_the_query_and_names_its_columns(undeclared)


def test_a_query_without_header_is_rejected(tmp_path):
    from tasks.storage import QueryError

    bad = tmp_path / "bad.sql"
    bad.write_text("SELECT 1\n")
    with pytest.raises(QueryError, match="Purpose"):
        parse_header(bad)
    bad.write_text("-- Purpose: x\n-- Parameters:\n--   run_id whatever\n-- Columns:\n--   a  b\nSELECT 1 AS a\n")
    with pytest.raises(QueryError, match=r"bad\.sql:3"):
        parse_header(bad)


def test_queries_dir_can_be_overridden(tmp_path, monkeypatch):
    (tmp_path / "mine.sql").write_text(
        "-- Purpose: my own question.\n-- Parameters:\n--   $n  required  how many\n"
        "-- Columns:\n--   n  the value\nSELECT CAST($n AS INTEGER) AS n\n"
    )
    monkeypatch.setenv("PATFLOW_QUERIES_DIR", str(tmp_path))
    assert list_queries() == [("mine", "my own question.")]
    assert run_query(tmp_path / "store", "mine", {"n": "7"}).to_pylist() == [{"n": 7}]
