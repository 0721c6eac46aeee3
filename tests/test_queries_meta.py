"""Every query in queries/ is documented and tested (sqlite-utils style meta-test).

Fails on a .sql file without a well-formed header (Purpose / Parameters / Columns), whose
declared parameters differ from the ``$names`` its body uses, whose declared columns differ
from what it returns (run on an empty store), or that no test file mentions by name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.storage import list_queries, queries_dir, run_query
from tasks.storage.views import parse_header

ROOT = Path(__file__).resolve().parents[1]
QUERY_FILES = sorted(queries_dir().glob("*.sql"))
PARAMETER_USE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def strip_sql_comments(text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def test_there_are_queries_and_list_queries_names_them_all():
    assert queries_dir() == ROOT / "queries"
    assert "compare_policies" in {path.stem for path in QUERY_FILES}
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
    table = run_query(tmp_path / "empty-store", path.stem, params)
    assert tuple(table.column_names) == header.columns, path.name


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda path: path.stem)
def test_query_has_no_paths_inside(path):
    body = strip_sql_comments(path.read_text())
    assert not re.search(r"read_parquet|read_csv|read_json|\.parquet|'/", body), path.name


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda path: path.stem)
def test_some_test_mentions_the_query(path):
    this_file = Path(__file__).resolve()
    mentions = [
        test_file
        for test_file in (ROOT / "tests").rglob("test_*.py")
        if test_file.resolve() != this_file and f'"{path.stem}"' in test_file.read_text()
    ]
    assert mentions, f"{path.name}: no test runs it (mention \"{path.stem}\" in a test)"


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
