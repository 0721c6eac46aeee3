"""The arrows go flows -> tasks -> sandbox. This walks every import and fails on a wrong one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORCHESTRATION = {"prefect", "prefect_dask", "dask", "distributed"}
FORBIDDEN = {
    "sandbox": ORCHESTRATION | {"litellm", "tasks", "flows", "duckdb", "pyarrow"},
    "tasks": ORCHESTRATION | {"flows"},
}
LITELLM_OWNER = "tasks/models/"


def imported_top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_the_wrong_way(package):
    offenders = []
    for path in python_files(package):
        bad = imported_top_level_names(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_only_the_model_layer_imports_litellm():
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("flows", "tasks", "sandbox")
        for path in python_files(package)
        if "litellm" in imported_top_level_names(path)
        and not str(path.relative_to(ROOT)).startswith(LITELLM_OWNER)
    ]
    assert not offenders, offenders


def test_sandbox_imports_only_stdlib_and_psutil():
    import sys

    allowed = set(sys.stdlib_module_names) | {"psutil", "sandbox"} | {p.stem for p in (ROOT / "sandbox" / "_child").glob("child_*.py")}
    offenders = []
    for path in python_files("sandbox"):
        bad = imported_top_level_names(path) - allowed
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


# The child side runs as a script (``python -S -P sandbox/_child``) in processes that later
# run candidate code: the standard library and its own ``child_*`` modules, nothing of the parent's.
CHILD_SIDE = tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "sandbox" / "_child").glob("*.py")))
CHILD_MODULES = {Path(relative).stem for relative in CHILD_SIDE}
# What each parent-side sandbox module may import beyond the standard library.
PARENT_SIDE_ALLOWED = {
    "sandbox/__init__.py": {"sandbox"},
    "sandbox/types.py": set(),
    "sandbox/identity_cache.py": set(),
    "sandbox/codec.py": {"sandbox"},
    "sandbox/isolation.py": {"sandbox"},
    "sandbox/executor.py": {"sandbox"},
    "sandbox/launch.py": {"sandbox", "psutil"},
    "sandbox/watch.py": {"sandbox"},
    "sandbox/compare.py": {"sandbox"},
}


def test_child_side_modules_import_only_the_standard_library():
    import sys

    assert "sandbox/_child/__main__.py" in CHILD_SIDE
    allowed = set(sys.stdlib_module_names) | CHILD_MODULES
    for relative in CHILD_SIDE:
        names = imported_top_level_names(ROOT / relative)
        assert names <= allowed, f"{relative} imports {sorted(names - allowed)}"


def test_parent_side_modules_import_only_what_they_must():
    import sys

    listed = {str(path.relative_to(ROOT)) for path in python_files("sandbox")}
    assert listed == set(PARENT_SIDE_ALLOWED) | set(CHILD_SIDE), "a sandbox module is not classified here"
    for relative, allowed in PARENT_SIDE_ALLOWED.items():
        extra = imported_top_level_names(ROOT / relative) - set(sys.stdlib_module_names) - allowed
        assert not extra, f"{relative} imports {sorted(extra)}"
    # psutil is the launcher's alone (the whole-tree kill in spawn mode).
    assert [r for r, allowed in PARENT_SIDE_ALLOWED.items() if "psutil" in allowed] == ["sandbox/launch.py"]
