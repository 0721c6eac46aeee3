"""The self-contained HTML report of one or more runs: one file, no network, open it from disk.

Guarantees:
- Every figure is SVG written here; the page's only script and style are inline; it references
  no URL (no CDN, font, image or fetch), so it renders offline and makes no network request.
- The Pareto plot draws one point per configuration (accuracy vs cost relative to a reference,
  with the bootstrap intervals of both as bars), the frontier as a line, and labels every point,
  the paper's headline configurations (PaT, Standard, FunCoder...) in bold.
- Every cell of the cost, trigger and failure tables that counts work items opens the example
  problems behind it: final program, decomposition tree and first failing hidden test.
- Every number comes from the named queries (policy_comparison, pareto, cost_breakdown,
  planner_trigger, failure_modes, report_examples); nothing is recomputed here.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from tasks.analysis.named import run_named
from tasks.storage import connect

HEADLINE_POLICIES = ("pat", "standard", "funcoder", "pbt", "codet", "self_debug", "best_of_n")
POINT_COLOR = "#d6336c"
FRONTIER_COLOR = "#1c7ed6"


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _config_key(row: dict[str, Any]) -> str:
    return f"{row['run_id']}|{row['dataset_name']}|{row['policy']}|{row['generator_model']}|{row['planner_model']}"


def _short_model(model: str) -> str:
    return model.split("/")[-1]


def config_label(row: dict[str, Any]) -> str:
    """'pat (small + large)', 'standard (large)': the planner only where the policy is built on
    one (pat, pbt) or a planner was invoked or paid for."""
    policy = row["policy"]
    uses_planner = (
        (row.get("planner_invocation_rate") or 0) > 0
        or (row.get("mean_planner_cost_usd") or 0) > 0
        or policy.split(":")[0] in ("pat", "pbt")
    )
    models = _short_model(row["generator_model"])
    if uses_planner:
        models += " + " + _short_model(row["planner_model"])
    return f"{policy} ({models})"


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


# --------------------------------------------------------------------------- the Pareto plot
def pareto_svg(points: list[dict[str, Any]], width: int = 720, height: int = 440) -> str:
    """Accuracy (y) vs relative cost (x): points, interval bars, frontier, labels."""
    left, right, top, bottom = 70, 30, 20, 55
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [v for p in points for v in (p["x"], p["x_low"], p["x_high"]) if v is not None]
    ys = [v for p in points for v in (p["y"], p["y_low"], p["y_high"]) if v is not None]
    x_max = max(xs + [1.0]) * 1.1
    y_min, y_max = 0.0, max(1.0, max(ys + [0.0]))

    def sx(value: float) -> float:
        return left + plot_w * value / x_max

    def sy(value: float) -> float:
        return top + plot_h * (1 - (value - y_min) / (y_max - y_min))

    parts = [
        f'<svg id="pareto" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="Pareto plot">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#999"/>',
    ]
    for step in range(6):
        value = y_min + (y_max - y_min) * step / 5
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(value):.1f}" y2="{sy(value):.1f}"'
                     ' stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 8}" y="{sy(value) + 4:.1f}" text-anchor="end"'
                     f' font-size="11">{value:.1f}</text>')
        x_value = x_max * step / 5
        parts.append(f'<text x="{sx(x_value):.1f}" y="{top + plot_h + 16}" text-anchor="middle"'
                     f' font-size="11">{x_value:.2f}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle" font-size="12">'
                 'cost relative to the reference (reference = 1)</text>')
    parts.append(f'<text transform="translate(16 {top + plot_h / 2}) rotate(-90)" text-anchor="middle"'
                 ' font-size="12">pass@1 on hidden tests</text>')
    frontier = sorted((p for p in points if p["on_frontier"] and p["x"] is not None), key=lambda p: p["x"])
    if len(frontier) > 1:
        path = " ".join(f"{sx(p['x']):.1f},{sy(p['y']):.1f}" for p in frontier)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{FRONTIER_COLOR}"'
                     ' stroke-width="2" stroke-dasharray="6 4"/>')
    placed: list[tuple[float, float, float, float]] = []  # label boxes drawn so far
    for point in points:
        if point["x"] is None:
            continue
        x, y = sx(point["x"]), sy(point["y"])
        if point["y_low"] is not None:
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{sy(point["y_low"]):.1f}"'
                         f' y2="{sy(point["y_high"]):.1f}" stroke="#555" stroke-width="1.5"/>')
        if point["x_low"] is not None and point["x_high"] is not None:
            parts.append(f'<line x1="{sx(point["x_low"]):.1f}" x2="{sx(point["x_high"]):.1f}"'
                         f' y1="{y:.1f}" y2="{y:.1f}" stroke="#555" stroke-width="1.5"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="{POINT_COLOR}" stroke="#fff"'
                     f' stroke-width="1.5" class="point" data-config="{_esc(point["key"])}">'
                     f'<title>{_esc(point["label"])}: pass@1 {point["y"]:.3f}, relative cost'
                     f' {point["x"]:.3f}</title></circle>')
        weight = "bold" if point["headline"] else "normal"
        right_half = x > left + plot_w * 0.6  # labels of right-hand points go left of them
        anchor, label_x, label_y = _label_place(x, y, len(point["label"]), right_half, placed)
        parts.append(f'<text x="{label_x:.1f}" y="{label_y:.1f}" font-size="12" text-anchor="{anchor}"'
                     f' font-weight="{weight}">{_esc(point["label"])}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


LABEL_CHAR_PX, LABEL_HEIGHT_PX = 7.0, 14.0  # 12 px bold text, a generous estimate


def _label_place(x: float, y: float, chars: int, right_half: bool,
                 placed: list[tuple[float, float, float, float]]) -> tuple[str, float, float]:
    """(text-anchor, x, baseline y) of a point's label: above on its side, else below, else on
    the other side, the first box that overlaps no label drawn before (else the first). The
    chosen box is added to ``placed``."""
    width = chars * LABEL_CHAR_PX
    sides = (("end", x - 10), ("start", x + 10)) if right_half else (("start", x + 10), ("end", x - 10))
    candidates = [(anchor, label_x, baseline) for anchor, label_x in sides
                  for baseline in (y - 8, y + 20)]

    def box(anchor: str, label_x: float, baseline: float) -> tuple[float, float, float, float]:
        x0 = label_x - width if anchor == "end" else label_x
        return (x0, baseline - LABEL_HEIGHT_PX + 3, x0 + width, baseline + 3)

    def overlaps(a, b) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    chosen = next((c for c in candidates if not any(overlaps(box(*c), other) for other in placed)),
                  candidates[0])
    placed.append(box(*chosen))
    return chosen


def _pareto_points(comparison: list[dict[str, Any]], frontier: set[str]) -> list[dict[str, Any]]:
    points = []
    for row in comparison:
        weighted = row["weighted_cost_relative_to_reference"] is not None
        prefix = "weighted_relative" if weighted else "cost_relative"
        x = row["weighted_cost_relative_to_reference"] if weighted else row["cost_relative_to_reference"]
        points.append({
            "key": _config_key(row), "label": config_label(row),
            "headline": row["policy"].split(":")[0] in HEADLINE_POLICIES and ":" not in row["policy"],
            "x": x, "x_low": row[f"{prefix}_low"], "x_high": row[f"{prefix}_high"],
            "y": row["pass_at_1"], "y_low": row["pass_at_1_low"], "y_high": row["pass_at_1_high"],
            "on_frontier": _config_key(row) in frontier,
        })
    return points


def _reference_generator(comparison: list[dict[str, Any]]) -> str | None:
    """The paper's reference: `standard` on the most expensive generator in the runs."""
    standard = [r for r in comparison if r["policy"] == "standard"]
    if not standard:
        return None
    return max(standard, key=lambda r: r["mean_cost_usd"] or 0)["generator_model"]


# --------------------------------------------------------------------------- tables
def _cell(count: int, drill: str | None) -> str:
    if drill is None or not count:
        return f"<td>{_fmt(count)}</td>"
    return f'<td><a href="#" class="drill" data-drill="{_esc(drill)}">{_fmt(count)}</a></td>'


def _table(headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _comparison_table(comparison: list[dict[str, Any]]) -> str:
    rows = []
    for r in comparison:
        interval = f"[{_fmt(r['pass_at_1_low'])}, {_fmt(r['pass_at_1_high'])}]"
        seeds = f"{_fmt(r['seed_pass_at_1_mean'])} ± {_fmt(r['seed_pass_at_1_sd'])}"
        rows.append(
            f"<tr><td>{_esc(r['dataset_name'])}</td><td>{_esc(config_label(r))}</td>"
            f"<td>{r['problems']}</td><td>{_fmt(r['pass_at_1'])} {interval}</td><td>{seeds}</td>"
            f"<td>{_fmt(r['mean_cost_usd'], 5)}</td><td>{_fmt(r['cost_per_solved_usd'], 5)}</td>"
            f"<td>{_fmt(r['cost_relative_to_reference'])}</td>"
            f"<td>{_fmt(r['weighted_cost_relative_to_reference'])}</td>"
            f"<td>{_fmt(r['planner_invocation_rate'])}</td></tr>"
        )
    return _table(["benchmark", "configuration", "problems", "pass@1 [95% CI]",
                   "per-seed pass@1 (mean ± sd)", "USD / problem", "USD / solved",
                   "relative cost (USD)", "relative cost (weighted)", "planner rate"], rows)


def _cost_table(breakdown: list[dict[str, Any]], labels: dict[str, str]) -> str:
    rows = []
    for r in breakdown:
        if r["dimension"] != "role":
            continue
        rows.append(
            f"<tr><td>{_esc(labels.get(_config_key(r), r['policy']))}</td><td>{_esc(r['dataset_name'])}</td>"
            f"<td>{_esc(r['bucket'])}</td><td>{r['calls']}</td>"
            f"<td>{_fmt(r['mean_tokens_per_problem'], 1)}</td>"
            f"<td>{_fmt(r['mean_cost_usd_per_problem'], 5)}</td><td>{_fmt(r['share_of_cost'])}</td></tr>"
        )
    return _table(["configuration", "benchmark", "role", "calls", "tokens / problem",
                   "USD / problem", "share of cost"], rows)


def _trigger_tables(trigger: list[dict[str, Any]], labels: dict[str, str]) -> str:
    if not trigger:
        return "<p>No trial-first policy (no root-trial verdicts) in these runs.</p>"
    blocks = []
    for r in trigger:
        key = _config_key(r)
        matrix = _table(["", "hidden passed", "hidden failed"], [
            "<tr><th>trial passed</th>" + _cell(r["trial_passed_hidden_passed"], f"trigger|{key}|true|true")
            + _cell(r["trial_passed_hidden_failed"], f"trigger|{key}|true|false") + "</tr>",
            "<tr><th>trial failed</th>" + _cell(r["trial_failed_hidden_passed"], f"trigger|{key}|false|true")
            + _cell(r["trial_failed_hidden_failed"], f"trigger|{key}|false|false") + "</tr>",
        ])
        blocks.append(
            f"<div class='trigger'><h3>{_esc(labels.get(key, r['policy']))} — {_esc(r['dataset_name'])}</h3>"
            f"{matrix}<p>trigger precision {_fmt(r['trigger_precision'])}, recall"
            f" {_fmt(r['trigger_recall'])}; planner success given a failed trial"
            f" {_fmt(r['planner_success_given_failed_trial'])}; trial right, planning made wrong:"
            f" {r['trial_right_planning_made_wrong']}</p></div>"
        )
    return "\n".join(blocks)


def _failure_table(failures: list[dict[str, Any]], labels: dict[str, str]) -> str:
    rows = []
    for r in failures:
        key = _config_key(r)
        rows.append(
            f"<tr><td>{_esc(labels.get(key, r['policy']))}</td><td>{_esc(r['dataset_name'])}</td>"
            f"<td>{_esc(r['category'])}</td><td>{_esc(r['status'])}</td>"
            + _cell(r["work_items"], f"status|{key}|{r['status']}")
            + f"<td>{_fmt(r['share'])}</td><td>{r['accepted_unverified']}</td></tr>"
        )
    return _table(["configuration", "benchmark", "category", "status", "items", "share",
                   "accepted unverified"], rows)


def _examples(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    drill: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        key = _config_key(r)
        example = {k: r[k] for k in ("task_id", "seed", "status", "final_program", "tree_json",
                                     "failing_test")}
        drill[f"status|{key}|{r['status']}"].append(example)
        if r["root_trial_passed"] is not None:
            cell = f"trigger|{key}|{str(r['root_trial_passed']).lower()}|{str(r['passed']).lower()}"
            drill[cell].append(example)
    return {k: v[:5] for k, v in drill.items()}


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; }
th { background: #f1f3f5; }
a.drill { color: #1c7ed6; font-weight: bold; }
pre { background: #f8f9fa; padding: 8px; overflow: auto; max-height: 320px; font-size: 12px; }
#drill { border: 2px solid #1c7ed6; padding: 8px 16px; margin: 16px 0; display: none; }
.trigger { display: inline-block; vertical-align: top; margin-right: 24px; }
"""

_SCRIPT = """
(function () {
  var examples = JSON.parse(document.getElementById('examples').textContent);
  var panel = document.getElementById('drill');
  function show(key) {
    var items = examples[key] || [];
    var parts = key.split('|');
    var html = '<h3>Examples: ' + parts.map(escapeHtml).join(' / ') + '</h3>';
    if (!items.length) { html += '<p>No stored examples.</p>'; }
    items.forEach(function (item) {
      html += '<h4>' + escapeHtml(item.task_id) + ' (seed ' + item.seed + ') — ' + escapeHtml(item.status) + '</h4>';
      html += '<p>final program</p><pre>' + escapeHtml(item.final_program || '') + '</pre>';
      if (item.tree_json) { html += '<p>decomposition tree</p><pre>' + escapeHtml(item.tree_json) + '</pre>'; }
      if (item.failing_test) { html += '<p>failing test</p><pre>' + escapeHtml(item.failing_test) + '</pre>'; }
    });
    panel.innerHTML = html;
    panel.style.display = 'block';
    panel.scrollIntoView();
  }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  document.querySelectorAll('a.drill').forEach(function (link) {
    link.addEventListener('click', function (event) { event.preventDefault(); show(link.dataset.drill); });
  });
  // report.html#drill=<cell key> opens a cell's examples directly (links to one cell).
  if (location.hash.indexOf('#drill=') === 0) { show(decodeURIComponent(location.hash.slice(7))); }
})();
"""


def render_report(con, title: str) -> tuple[str, dict[str, int]]:
    comparison = run_named(con, "policy_comparison", {}).to_pylist()
    reference = _reference_generator(comparison)
    if reference:
        comparison = run_named(con, "policy_comparison", {"reference_generator": reference}).to_pylist()
    frontier = {
        f"{r['run_id']}|{r['scope']}|{r['policy']}|{r['generator_model']}|{r['planner_model']}"
        for r in run_named(con, "pareto", {}).to_pylist()
    }
    breakdown = run_named(con, "cost_breakdown", {}).to_pylist()
    trigger = run_named(con, "planner_trigger", {}).to_pylist()
    failures = run_named(con, "failure_modes", {}).to_pylist()
    examples = _examples(run_named(con, "report_examples", {}).to_pylist())
    labels = {_config_key(r): config_label(r) for r in comparison}
    sections = []
    for dataset in sorted({r["dataset_name"] for r in comparison}):
        rows = [r for r in comparison if r["dataset_name"] == dataset]
        sections.append(f"<h3>{_esc(dataset)}</h3>" + pareto_svg(_pareto_points(rows, frontier)))
    reference_text = (f"`standard` on {reference}" if reference
                      else "`standard` on each configuration's own generator")
    examples_json = json.dumps(examples).replace("</", "<\\/")
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{_esc(title)}</h1>
<h2>Accuracy vs cost (Pareto)</h2>
<p>One point per configuration; bars are 95% bootstrap intervals over problems; the dashed line
is the cost-accuracy frontier. Cost is relative to {_esc(reference_text)} (the paper's weighted
tokens where every call has a cost weight, else USD).</p>
{''.join(sections) or '<p>No outcomes in these runs.</p>'}
<h2>Configurations</h2>
{_comparison_table(comparison)}
<h2>Cost breakdown by role</h2>
{_cost_table(breakdown, labels)}
<h2>Planner trigger</h2>
{_trigger_tables(trigger, labels)}
<h2>Failure taxonomy</h2>
{_failure_table(failures, labels)}
<div id="drill"></div>
<script type="application/json" id="examples">{examples_json}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
    return document, {"configurations": len(comparison), "drill_cells": len(examples)}


def write_report(store: str | Path, run_ids: list[str] | None, output: str | Path) -> str:
    con = connect(store, run_ids)
    try:
        runs = ", ".join(run_ids) if run_ids else "all runs"
        document, counts = render_report(con, f"patflow report — {runs}")
    finally:
        con.close()
    Path(output).write_text(document, encoding="utf-8")
    return f"{counts['configurations']} configurations, {counts['drill_cells']} drill-down cells"
