"""``patflow sim serve``: the simulated models over a real OpenAI-compatible HTTP server.

``--generator openai/sim-small --api-base http://127.0.0.1:P/v1`` then reaches the same
simulator as the in-process ``sim/small``, through litellm's real HTTP path, with the latency,
errors and rate limits chosen here. The simulator is for dry runs, load and fault tests and
cost projection; its answers and prices say nothing about any real model.
"""

from __future__ import annotations

from typing import Optional

import typer

from flows.commands.errors import fail, user_errors

sim_app = typer.Typer(
    help="Simulated models (sim-small, sim-large) for dry runs, load and fault tests.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim")


@sim_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", envvar="PATFLOW_SIM_HOST", help="Address to listen on."),
    port: int = typer.Option(8765, envvar="PATFLOW_SIM_PORT", min=1, max=65535, help="TCP port."),
    latency_ms: float = typer.Option(0.0, min=0.0, help="Added latency of every answer, in ms."),
    jitter_ms: float = typer.Option(0.0, min=0.0, help="Uniform +/- jitter on the latency, in ms."),
    error_rate: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Fraction of requests that fail with --error-kind."
    ),
    error_kind: str = typer.Option(
        "500", help="How an injected failure looks: 500, 429, malformed, slow or disconnect."
    ),
    fail_first: int = typer.Option(0, min=0, help="The first N requests fail with --error-kind."),
    rate_limit: Optional[float] = typer.Option(
        None, min=0.001, help="Requests per second accepted; above it: 429 with Retry-After."
    ),
    retry_after_s: float = typer.Option(1.0, min=0.0, help="Retry-After of injected 429s, in s."),
    slow_ms: float = typer.Option(5000.0, min=0.0, help="Latency of 'slow' failures, in ms."),
    fault_seed: int = typer.Option(0, help="Seed of the fault and jitter random numbers."),
    benchmark: Optional[list[str]] = typer.Option(
        None,
        "--benchmark",
        help="Benchmark whose problems the simulator should know (repeatable): name or JSONL path.",
    ),
    data_dir: Optional[str] = typer.Option(
        None, envvar="PATFLOW_DATA_DIR", help="Where benchmark files are looked up."
    ),
) -> None:
    """Serve sim-small / sim-medium / sim-large at http://HOST:PORT/v1 until interrupted."""
    from tasks.models.sim_server import FaultSettings, load_benchmark_problems
    from tasks.models.sim_server import serve as run_server

    with user_errors():
        faults = FaultSettings(
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            error_rate=error_rate,
            error_kind=error_kind,
            fail_first=fail_first,
            rate_limit_per_s=rate_limit,
            retry_after_s=retry_after_s,
            slow_ms=slow_ms,
            fault_seed=fault_seed,
        ).validated()
        known = load_benchmark_problems(benchmark or [], data_dir) if benchmark else 0
    typer.echo(f"sim serve: {known} problems known; models at http://{host}:{port}/v1", err=True)
    try:
        run_server(host, port, faults)
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}")
