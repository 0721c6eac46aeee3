"""Process-wide defaults that must be set before prefect or litellm is imported: the ONE place
they live (the CLI imports this module first; ``tests/conftest.py`` imports it and adds
``TEST_DEFAULTS``; the Makefile runs the CLI and pytest, so it needs none of its own).

Without ``LITELLM_LOCAL_MODEL_COST_MAP`` litellm's import blocks on a network fetch; without
``HF_HUB_OFFLINE`` token counting for Hugging Face names tries a download; Prefect's ephemeral
server needs a longer start-up timeout on a 2-core machine and a persistent home so its
database is not rebuilt each run. A user's own settings always win (``setdefault``).

patflow's own variables (each the twin of a command-line option where there is one):
- ``PATFLOW_STORE``: the run store (``data/runs``).
- ``PATFLOW_CACHE_DIR``: the model response cache (``data/cache``).
- ``PATFLOW_DATA_DIR``: where benchmark files are looked up (``~/.cache/patflow/datasets``).
- ``PATFLOW_DATASET_CACHE_DIR``: parsed-benchmark and reference-run caches
  (``$XDG_CACHE_HOME/patflow`` or ``~/.cache/patflow``).
- ``PATFLOW_OFFLINE=1``: never download a missing benchmark file (the tests set it).
"""

import os
from pathlib import Path

DEFAULTS = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_HOME": str(Path.home() / ".prefect"),
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # Dask's scheduler and nannies log every worker start and stop at INFO: noise for a CLI.
    "DASK_LOGGING__DISTRIBUTED": "warning",
}

# The test suite runs offline: a missing data file is a skip with its reason, never a download.
TEST_DEFAULTS = {"PATFLOW_OFFLINE": "1"}


def apply(defaults: dict[str, str] = DEFAULTS) -> None:
    for name, value in defaults.items():
        os.environ.setdefault(name, value)


apply()
