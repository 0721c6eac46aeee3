"""Re-make ``docs/report.png``, the README's picture of the HTML report, in one command.

Runs a small simulated HumanEval sweep with every policy (``sim/small`` generator, ``sim/large``
planner, plus ``standard:generator=sim/large``, the reference configuration), writes
``patflow report --html`` of it and screenshots the page in headless Chromium, found or
installed the way the browser tests do (tests/analysis/headless_browser.py). The sweep uses a
fresh response cache, so the picture shows the simulator as it is now. CPU-bound: keep
``--limit`` small. Usage:
    .venv/bin/python benchmarks/report_screenshot.py [--limit 20] [--store DIR] [--output docs/report.png]
``--render-only --store DIR`` re-renders the run a previous call kept in DIR (no sweep).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "analysis"))

from headless_browser import FLAGS, find_or_install_chromium  # noqa: E402

POLICIES = ("standard", "standard:generator=sim/large", "pat", "funcoder", "codet", "best_of_n",
            "self_debug")
RUN_ID = "report"


def patflow(*args: str) -> None:
    command = [str(Path(sys.executable).with_name("patflow")), *args]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def run_sweep(store: Path, cache: Path, limit: int, workers: int | None) -> None:
    policies = [option for policy in POLICIES for option in ("--policy", policy)]
    extra = ["--workers", str(workers)] if workers else []
    patflow("run", "--benchmark", "humaneval", *policies, "--generator", "sim/small",
            "--planner", "sim/large", "--reference-generator", "sim/large", "--seeds", "1",
            "--limit", str(limit), "--store", str(store), "--run-id", RUN_ID, "--overwrite",
            "--cache-dir", str(cache), *extra)


def screenshot(page: Path, output: Path, width: int, height: int) -> None:
    chromium, why = find_or_install_chromium()
    if chromium is None:
        raise SystemExit(f"report_screenshot: no headless Chromium: {why}")
    with tempfile.TemporaryDirectory(prefix="patflow-screenshot-") as scratch:
        shot = Path(scratch) / "shot.png"
        done = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={scratch}/profile", f"--screenshot={shot}",
             f"--window-size={width},{height}", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=180,
        )
        if not shot.exists():
            raise SystemExit(f"report_screenshot: chromium made no screenshot (exit {done.returncode}):"
                             f" {done.stderr[-300:]}")
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20, help="first N HumanEval problems (default 20)")
    parser.add_argument("--store", type=Path, default=None,
                        help="keep the sweep's store here (default: a temporary directory)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--workers", type=int, default=None, help="Dask workers (default: patflow's)")
    parser.add_argument("--render-only", action="store_true",
                        help="no sweep: render the run already in --store")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=1400)
    args = parser.parse_args()
    if args.render_only and args.store is None:
        parser.error("--render-only needs --store (the directory a previous run kept)")
    with tempfile.TemporaryDirectory(prefix="patflow-report-shot-") as scratch:
        store = args.store or Path(scratch) / "runs"
        started = time.perf_counter()
        if not args.render_only:
            run_sweep(store, Path(scratch) / "cache", args.limit, args.workers)
        swept = time.perf_counter() - started
        page = Path(scratch) / "report.html"
        patflow("report", "--store", str(store), "--run-id", RUN_ID, "--html", str(page))
        screenshot(page, args.output, args.width, args.height)
    sweep = "no sweep" if args.render_only else (
        f"sweep of {len(POLICIES)} configurations x {args.limit} problems took {swept:.0f} s")
    print(f"wrote {args.output} ({args.width}x{args.height}); {sweep}")


if __name__ == "__main__":
    main()
