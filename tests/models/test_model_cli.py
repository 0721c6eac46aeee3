"""`patflow cache stats|clear` on a real cache written by the client; `patflow sim serve` input errors."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from flows.cli import app
from tasks.models import ModelClient, ResponseCache
from tasks.records import ModelConfig, ModelRequest


def fill(cache_dir, count: int, model: str) -> None:
    client = ModelClient(cache=ResponseCache(cache_dir))

    async def run_all():
        requests = [ModelRequest((("user", f"def task_{i}(x):\n    pass"),)) for i in range(count)]
        return await asyncio.gather(*(client.complete(ModelConfig(model), r) for r in requests))

    assert all(r.error is None for r in asyncio.run(run_all()))


def test_stats_and_clear_through_the_cli(tmp_path, monkeypatch):
    fill(tmp_path, 3, "sim/small")
    fill(tmp_path, 2, "sim/large")
    runner = CliRunner()
    result = runner.invoke(app, ["cache", "stats", "--cache-dir", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["entries"] == 5 and stats["size_bytes"] > 0
    assert {m["model"]: m["entries"] for m in stats["models"]} == {"sim/large": 2, "sim/small": 3}

    result = runner.invoke(app, ["cache", "clear", "--cache-dir", str(tmp_path), "--model", "sim/small", "--yes"])
    assert result.exit_code == 0 and "deleted 3" in result.output
    monkeypatch.setenv("PATFLOW_CACHE_DIR", str(tmp_path))  # the environment twin of --cache-dir
    result = runner.invoke(app, ["cache", "stats"])
    assert result.exit_code == 0 and "entries: 2" in result.output and "sim/large" in result.output
    result = runner.invoke(app, ["cache", "clear"], input="n\n")
    assert result.exit_code != 0 and ResponseCache(tmp_path).stats().entries == 2
    result = runner.invoke(app, ["cache", "clear", "-y"])
    assert "deleted 2" in result.output and ResponseCache(tmp_path).stats().entries == 0


def test_bad_cache_dir_is_a_one_line_error(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = CliRunner().invoke(app, ["cache", "stats", "--cache-dir", str(not_a_dir)])
    assert result.exit_code == 2
    assert "not a directory" in result.output and "Traceback" not in result.output


def test_sim_serve_bad_input_is_a_one_line_error():
    runner = CliRunner()
    result = runner.invoke(app, ["sim", "serve", "--error-kind", "teapot", "--port", "1"])
    assert result.exit_code == 2 and "error kind 'teapot'" in result.output
    result = runner.invoke(app, ["sim", "serve", "--benchmark", "no-such-benchmark", "--port", "1"])
    assert result.exit_code == 2 and "unknown benchmark 'no-such-benchmark'" in result.output
    assert "Traceback" not in result.output
