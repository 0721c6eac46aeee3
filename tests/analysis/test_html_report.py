"""The HTML report in a real headless Chromium: drawn, no console error, no network request,
drill-down opens a cell's examples. Over a small real sweep (the session's demo store) and a
hand-built store; control pages show that each check can fail."""

from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import quote

import pytest
from headless_browser import FLAGS, find_or_install_chromium, load
from storage_builders import Call, Check, make_item

from tasks.analysis.html import POINT_COLOR, write_report
from tasks.analysis.named import run_named
from tasks.storage import write_chunk

POINT_RGB = tuple(int(POINT_COLOR[i : i + 2], 16) for i in (1, 3, 5))
TREE = '{"node": "root", "children": ["helper_one"]}'


@pytest.fixture(scope="module")
def chromium():
    path, why = find_or_install_chromium()
    if path is None:
        pytest.skip(f"no headless Chromium: {why}")
    return path


@pytest.fixture
def hand_built(store):
    items = []
    for index, task in enumerate("abcdef"):
        ok = index % 3 != 0
        items.append(make_item(task, "standard", calls=(Call("generator", 100, 20, 0.001, 8.0),),
                               suites=(("base", ok),), status=None if ok else "error:IndexError",
                               checks=(Check("hidden:base", ok, "passed" if ok else "error:IndexError",
                                             phase="score", first_failure="assert f(3) == 4"),)))
        trial = index % 2 == 0
        items.append(make_item(task, "pat", calls=(Call("generator", 100, 20, 0.001, 8.0),
                                                   Call("planner", 300, 80, 0.01, 70.0, "decompose")),
                               suites=(("base", trial or index != 3),), root_trial_passed=trial,
                               planner_invoked=not trial, tree_json="" if trial else TREE,
                               final_program=f"def f_{task}():\n    return {index}\n"))
        items.append(make_item(task, "standard", generator="sim/large",
                               calls=(Call("generator", 100, 20, 0.01, 70.0),), suites=(("base", True),)))
    write_chunk(store, items)
    return store


def test_report_examples_query_keeps_a_few_per_cell(hand_built):
    rows = run_named(str(hand_built), "report_examples", {"per_cell": "1"}).to_pylist()
    keys = {(r["policy"], r["generator_model"], r["status"]) for r in rows}
    assert ("standard", "sim/small", "error:IndexError") in keys
    failing = next(r for r in rows if r["status"] == "error:IndexError")
    assert failing["failing_test"] == "assert f(3) == 4" and failing["passed"] is False
    assert failing["root_trial_passed"] is None and failing["seed"] == 0
    assert failing["run_id"] == "r1" and failing["dataset_name"] == "toy"
    assert failing["planner_model"] == "sim/large" and failing["task_id"] == "a"
    planned = [r for r in rows if r["policy"] == "pat" and r["root_trial_passed"] is False]
    assert planned and all(r["tree_json"] == TREE and r["final_program"].startswith("def f_")
                           for r in planned)
    everything = run_named(str(hand_built), "report_examples", {}).to_pylist()
    # Default 5 per cell: of the large standard's six passing items (one status cell, one
    # trigger cell) the first five by task_id stay; every other cell has at most five items.
    large = [r["task_id"] for r in everything if r["generator_model"] == "sim/large"]
    assert large == list("abcde") and len(everything) == 6 + 6 + 5


def test_report_file_is_self_contained_with_drill_down_data(hand_built, tmp_path):
    output = tmp_path / "report.html"
    write_report(hand_built, None, output)
    text = output.read_text()
    assert not re.search(r"(src|href)=\"(?!#)", text), "the report references an outside resource"
    assert "http://" not in text and "https://" not in text
    examples = json.loads(re.search(r'id="examples">(.*?)</script>', text, re.S).group(1))
    drill_keys = set(re.findall(r'data-drill="([^"]+)"', text))
    assert drill_keys and drill_keys <= set(examples)
    assert any(TREE in json.dumps(v) or TREE in str(v) for v in examples.values())
    assert text.count('class="point"') == 3
    assert re.search(r'font-weight="bold">pat \(small \+ large\)</text>', text)
    assert re.search(r'font-weight="bold">standard \(large\)</text>', text)


def _assert_clean(page):
    assert page.console == [], page.console
    assert page.page_requests == [], page.page_requests


def test_report_of_a_real_sweep_renders_in_chromium(chromium, demo_store, tmp_path):
    output = tmp_path / "report.html"
    write_report(demo_store, ["demo"], output)
    page = load(chromium, output, width=1100, height=800)
    _assert_clean(page)
    drawn = page.count_color(POINT_RGB, box=(0, 0, 1100, 800))
    assert drawn > 150, f"the Pareto plot's points are not drawn ({drawn} pixels of {POINT_COLOR})"


def test_hand_built_report_renders_every_point_and_drills_down(chromium, hand_built, tmp_path):
    output = tmp_path / "report.html"
    write_report(hand_built, None, output)
    page = load(chromium, output, width=1100, height=800)
    _assert_clean(page)
    assert page.count_color(POINT_RGB, box=(0, 0, 1100, 800)) > 3 * 80
    key = re.search(r'data-drill="(status\|[^"]*error:IndexError)"', output.read_text()).group(1)
    with_hash = output.resolve().as_uri() + "#drill=" + quote(key, safe="")
    dom = subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp_path}/profile", "--dump-dom",
                          with_hash], capture_output=True, text=True, timeout=120).stdout
    panel = dom[dom.index('id="drill"'):]
    assert "assert f(3) == 4" in panel and "failing test" in panel and "final program" in panel


def test_the_browser_checks_can_fail(chromium, store, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><img src="http://127.0.0.1:9/x.png">'
                   '<script>undefinedFunction();</script></body></html>')
    page = load(chromium, bad, width=400, height=300)
    assert any("undefinedFunction" in line for line in page.console)
    assert page.page_requests == ["http://127.0.0.1:9/x.png"]
    empty = tmp_path / "empty.html"
    write_report(store, None, empty)
    assert load(chromium, empty, width=1100, height=800).count_color(POINT_RGB) == 0



def test_pareto_labels_of_nearby_points_do_not_overlap():
    from tasks.analysis.html import pareto_svg

    def point(label, x, y):
        return {"x": x, "x_low": None, "x_high": None, "y": y, "y_low": None, "y_high": None,
                "on_frontier": False, "key": label, "label": label, "headline": True}

    svg = pareto_svg([point("best_of_n (small)", 0.70, 0.90), point("standard (large)", 1.0, 0.90),
                      point("same place (small)", 1.0, 0.90)])
    labels = re.findall(r'<text x="([\d.]+)" y="([\d.]+)" font-size="12" text-anchor="(\w+)"'
                        r'[^>]*>([^<]+)</text>', svg)
    assert len(labels) == 3
    boxes = []  # 12 px text is at most ~7 px a character wide and 11 px above its baseline
    for x, y, anchor, text in labels:
        width = 7.0 * len(text)
        x0 = float(x) - width if anchor == "end" else float(x)
        boxes.append((x0, float(y) - 11, x0 + width, float(y) + 3))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
