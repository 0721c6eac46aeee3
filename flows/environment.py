"""Process-wide defaults that must be set before prefect or litellm is imported.

Without ``LITELLM_LOCAL_MODEL_COST_MAP`` litellm's import blocks on a network fetch; without
``HF_HUB_OFFLINE`` token counting for Hugging Face names tries a download; Prefect's ephemeral
server needs a longer start-up timeout on a 2-core machine and a persistent home so its
database is not rebuilt each run. A user's own settings always win (``setdefault``).
"""

import os
from pathlib import Path

_DEFAULTS = {
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

for _name, _value in _DEFAULTS.items():
    os.environ.setdefault(_name, _value)
