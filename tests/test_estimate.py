"""``patflow run --estimate``: the sweep on the simulator, priced at the real models' prices.
No request reaches the endpoints the config names; the projection is the sim run's priced tokens."""

from __future__ import annotations

import http.server
import json
import textwrap
import threading

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import app

GPT4O_MINI = (0.15, 0.60)  # litellm's local price map, USD per million input/output tokens
OVERRIDE = (1.25, 5.0)  # the config's own prices for the planner


class CountingServer:
    """A loopback HTTP server that counts every request it receives, of any method."""

    def __init__(self):
        counter = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def _count(self):
                counter.requests += 1
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _count

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def write_config(tmp_path, api_base: str):
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        run_id: priced
        store: {tmp_path / "runs"}
        benchmarks:
          - {{name: humaneval, limit: 4}}
          - {{name: stdio-demo, limit: 2}}
        models:
          small:
            model: openai/gpt-4o-mini
            api_base: {api_base}
            api_key_env: PATFLOW_TEST_NEVER_SET
          large:
            model: openai/gpt-4o
            api_base: {api_base}
            input_usd_per_mtok: {OVERRIDE[0]}
            output_usd_per_mtok: {OVERRIDE[1]}
        configurations:
          - {{name: small+large, generator: small, planner: large}}
          - {{name: large, generator: large, planner: large}}
        policies:
          - {{name: pat, configurations: [small+large]}}
          - {{name: standard}}
    """))
    return path


def priced_calls(store, run_id: str, generator_prices, planner_prices):
    """(benchmark, policy) -> (calls, input tokens, output tokens, USD) computed from the sim
    run's stored token counts and the prices above, independently of the estimate's code."""
    rows = duckdb.connect().execute(
        f"""select dataset_name, policy, role, count(*), sum(input_tokens), sum(output_tokens)
            from read_parquet('{store}/calls/run_id={run_id}/*.parquet') group by all"""
    ).fetchall()
    totals: dict = {}
    for dataset, policy, role, calls, input_tokens, output_tokens in rows:
        price_in, price_out = generator_prices if role == "generator" else planner_prices
        entry = totals.setdefault((dataset, policy), [0, 0, 0, 0.0])
        entry[0] += calls
        entry[1] += input_tokens
        entry[2] += output_tokens
        entry[3] += (input_tokens * price_in + output_tokens * price_out) / 1e6
    return totals


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv("PATFLOW_TEST_NEVER_SET", raising=False)


def test_estimate_sends_nothing_to_the_endpoints_and_equals_the_priced_sim_run(tmp_path, no_key):
    with CountingServer() as server:
        config = write_config(tmp_path, server.api_base)
        sim_store = tmp_path / "sim-store"
        result = CliRunner().invoke(
            app, ["run", "--config", str(config), "--estimate", "--estimate-store", str(sim_store), "--format", "json"]
        )
        assert result.exit_code == 0, result.output
        assert server.requests == 0  # not even the api_base probe of a real run
    assert not (tmp_path / "runs").exists()  # the sweep's own store is untouched
    rows = json.loads(result.output[result.output.index("["):])
    cells = {(r["benchmark"], r["policy"], r["configuration"]): r for r in rows if r["benchmark"] != "TOTAL"}
    assert set(cells) == {
        (b, p, c) for b in ("humaneval", "stdio-demo")
        for p, c in (("pat", "small+large"), ("standard", "small+large"), ("standard", "large"))
    }  # fmt: skip
    expected = {
        "small+large": priced_calls(sim_store, "estimate-0", GPT4O_MINI, OVERRIDE),
        "large": priced_calls(sim_store, "estimate-1", OVERRIDE, OVERRIDE),
    }
    for (benchmark, policy, configuration), row in cells.items():
        calls, input_tokens, output_tokens, usd = expected[configuration][(benchmark, policy)]
        assert (row["calls"], row["input_tokens"], row["output_tokens"]) == (calls, input_tokens, output_tokens)
        assert row["usd"] == pytest.approx(usd, rel=1e-9) and usd > 0
        assert row["usd_low"] <= row["usd_high"] and row["problems_run"] == row["problems"]
        assert row["generator_model"] == ("openai/gpt-4o-mini" if configuration == "small+large" else "openai/gpt-4o")
    total = next(r for r in rows if r["benchmark"] == "TOTAL")
    assert total["usd"] == pytest.approx(sum(r["usd"] for r in cells.values()))
    # the stand-ins were the simulator's skills by role: small generates, large plans
    models = duckdb.connect().execute(
        f"select distinct run_id, role, model from read_parquet('{sim_store}/calls/**/*.parquet', hive_partitioning=true)"
    ).fetchall()
    assert set(models) <= {
        ("estimate-0", "generator", "sim/small"), ("estimate-0", "planner", "sim/large"),
        ("estimate-1", "generator", "sim/large"), ("estimate-1", "planner", "sim/large"),
    }  # fmt: skip


def test_estimate_on_a_sample_scales_to_the_whole_selection(tmp_path, no_key):
    with CountingServer() as server:
        config = write_config(tmp_path, server.api_base)
        sim_store = tmp_path / "sim-store"
        result = CliRunner().invoke(
            app, ["run", "--config", str(config), "--estimate", "--sample", "2", "--estimate-store", str(sim_store),
                  "--format", "json"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert server.requests == 0
    rows = json.loads(result.output[result.output.index("["):])
    row = next(r for r in rows if (r["benchmark"], r["policy"], r["configuration"]) == ("humaneval", "pat", "small+large"))
    assert (row["problems_run"], row["problems"]) == (2, 4)
    _, _, _, usd = priced_calls(sim_store, "estimate-0", GPT4O_MINI, OVERRIDE)[("humaneval", "pat")]
    assert row["usd"] == pytest.approx(usd * 4 / 2, rel=1e-9)
    ran = duckdb.connect().execute(
        f"select count(distinct task_id) from read_parquet('{sim_store}/outcomes/run_id=estimate-0/*.parquet')"
        " where dataset_name = 'humaneval'"
    ).fetchone()[0]
    assert ran == 2
