"""prefect.yaml's deployments point at a real flow, pass only parameters it accepts, and the
scheduled sweep's config file is a valid sweep (checked as ``patflow run --config`` checks it)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import yaml

from tasks.sweep_config import load_sweep_config

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = yaml.safe_load((ROOT / "prefect.yaml").read_text())


def test_every_deployment_entrypoint_is_a_flow_taking_its_parameters():
    deployments = DOCUMENT["deployments"]
    assert deployments
    for deployment in deployments:
        path, _, name = deployment["entrypoint"].partition(":")
        assert (ROOT / path).is_file(), deployment["entrypoint"]
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert flow.__class__.__name__ == "Flow", f"{deployment['name']}: {name} is not a Prefect flow"
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment.get("parameters", {})) <= accepted, deployment["name"]
        assert deployment["work_pool"]["name"]


def test_the_nightly_deployment_runs_a_valid_config_file_on_the_process_pool_at_night(monkeypatch):
    (nightly,) = [d for d in DOCUMENT["deployments"] if d["name"] == "nightly"]
    assert nightly["entrypoint"] == "flows/sweep.py:scheduled_sweep"
    assert nightly["work_pool"]["name"] == "patflow-process"
    assert [(s["cron"], s["timezone"]) for s in nightly["schedules"]] == [("0 3 * * *", "UTC")]
    config_path = nightly["parameters"]["config"]
    monkeypatch.chdir(ROOT)  # relative, as the worker sees it: from the directory deploy ran in
    config = load_sweep_config(Path(config_path))
    assert [b.dataset.name for b in config.benchmarks] == ["humaneval"]
    assert [v.spec.name for v in config.policies] == ["standard", "pat"]
    assert {m.model for m in config.model_configs()} == {"sim/small", "sim/large"}
    assert config.benchmarks[0].problems_selected == 20


def test_the_readme_steps_deploy_and_run_this_deployment():
    """The README's scheduled-sweep block names the pool, the deploy command and the deployment
    that prefect.yaml and tests/scale/test_prefect_deployment.py use."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**Scheduled sweeps.**"):readme.index("## Commands")]
    commands = [line.split("#")[0].strip() for line in section.split("```")[1].splitlines() if line.strip()]
    (nightly,) = [d for d in DOCUMENT["deployments"] if d["name"] == "nightly"]
    pool = nightly["work_pool"]["name"]
    assert f".venv/bin/prefect work-pool create {pool} --type process" in commands
    assert ".venv/bin/prefect --no-prompt deploy --all" in commands
    assert f".venv/bin/prefect worker start --pool {pool}" in commands
    assert f".venv/bin/prefect deployment run patflow-scheduled-sweep/{nightly['name']}" in commands
    test_source = (ROOT / "tests" / "scale" / "test_prefect_deployment.py").read_text()
    assert f'DEPLOYMENT = "patflow-scheduled-sweep/{nightly["name"]}"' in test_source
