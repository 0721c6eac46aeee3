"""patflow's sandbox: run untrusted programs against tests and return honest verdicts.

Public surface: ``execute(ExecutionRequest) -> ExecutionResult`` and ``isolation_report()``.
Standard library + psutil only; knows nothing of benchmarks, models, Prefect or Dask.

Layout, parent side first (this process):
- ``types.py``     the contract: test formats (data, never benchmark names), limits, verdicts.
- ``executor.py``  ``execute``: request -> jobs -> verdicts; resumes after a test that ended a run.
- ``launch.py``    starts jobs on the warm fork server (or spawns them); the pool of judges.
- ``watch.py``     one run: owns the clock, reads the records, names what went unreported.
- ``compare.py``   call/stdio outputs against expected values; ``codec.py`` decodes outputs.
- ``isolation.py`` which layers this machine gives (``patflow doctor``).
- ``_child/``      everything that runs in the sandbox, standard library only, run as a
                   directory (its docstring lists the modules): kernel calls, codec, guards,
                   the judge's link to the candidate, the runner, isolation, the fork server;
                   and ``child_plan``, the parent's planner of batched judge calls.
"""

from sandbox.executor import execute
from sandbox.isolation import isolation_report
from sandbox.types import ExecutionRequest, ExecutionResult, Limits, TestVerdict

__all__ = ["execute", "isolation_report", "ExecutionRequest", "ExecutionResult", "Limits", "TestVerdict"]
