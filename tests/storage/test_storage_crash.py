"""Real process deaths and concurrent writers against the chunk writer."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from storage_builders import Call, Check, make_item

from tasks.storage import completed_work_item_specs, connect, remove_uncommitted

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[1]


def test_process_killed_before_commit_leaves_nothing_visible(store):
    # The child writes calls and verifications, then dies (os._exit) just before outcomes.
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path[:0] = [{str(TESTS_DIR)!r}, {str(REPO_ROOT)!r}]
        from storage_builders import Call, Check, make_item
        import tasks.storage.writer as writer
        real_write = writer.write_table_atomically
        def dying_write(table, path):
            if path.parts[-3] == "outcomes":
                os._exit(9)
            return real_write(table, path)
        writer.write_table_atomically = dying_write
        writer.write_chunk({str(store)!r}, [make_item("t/1", "pat", 0, calls=(Call("planner", 10, 10, 1.0),),
                                                      checks=(Check("public", False),))])
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    assert len(list((store / "calls").rglob("*.parquet"))) == 1  # the orphan is really there
    con = connect(store)
    assert con.execute("SELECT count(*) FROM calls").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM verifications").fetchall() == [(0,)]
    assert completed_work_item_specs(store, "r1") == set()
    # The resume's clean-up removes the orphan, so raw readers agree with the views.
    assert remove_uncommitted(store, "r1") == 2
    assert list((store / "calls").rglob("*.parquet")) == []


def _write_chunks(args):
    store, worker, chunks = args
    from tasks.storage import write_chunk

    for chunk in range(chunks):
        write_chunk(store, [
            make_item(f"w{worker}/c{chunk}/i{i}", "pat", 0, calls=(Call("generator", 1, 1),))
            for i in range(3)
        ])
    return worker


def test_concurrent_writers_never_clash(store):
    with ProcessPoolExecutor(max_workers=4) as pool:
        list(pool.map(_write_chunks, [(str(store), worker, 5) for worker in range(4)]))
    keys = completed_work_item_specs(store, "r1")
    assert len(keys) == 4 * 5 * 3
    assert connect(store).execute("SELECT count(DISTINCT chunk_id) FROM calls").fetchall() == [(20,)]
