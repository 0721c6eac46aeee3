"""patflow's sandbox: run untrusted programs against tests and return honest verdicts.

Public surface: ``execute(ExecutionRequest) -> ExecutionResult`` and ``isolation_report()``.
Standard library + psutil only; knows nothing of benchmarks, models, Prefect or Dask.
See ``sandbox/executor.py`` (parent side, verdicts) and ``sandbox/_child.py`` (isolation
layers, the runner, and what reward hacks are and are not caught).
"""

from sandbox.executor import execute
from sandbox.isolation import isolation_report
from sandbox.types import ExecutionRequest, ExecutionResult, Limits, TestVerdict

__all__ = ["execute", "isolation_report", "ExecutionRequest", "ExecutionResult", "Limits", "TestVerdict"]
