"""The package's walls: the solver imports nothing from the companion or the chapters, nor any
plotting, file-format or notebook library; no private name (``_x``) is imported across modules."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "mftransformer"
SOLVER = sorted((PACKAGE / "solver").glob("*.py"))
FORBIDDEN_IN_SOLVER = {"matplotlib", "yaml", "papermill", "jupytext", "tqdm", "myst_nb"}
COMPANION_SIDE = {"companion", "experiments"}


def _module_of(path: Path) -> list[str]:
    base = ROOT / "src" if path.is_relative_to(ROOT / "src") else ROOT
    return list(path.relative_to(base).with_suffix("").parts)


def _imports(path: Path):
    """(absolute module, imported names) for every import statement of ``path``."""
    here = _module_of(path)
    package = here[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield module, [a.name for a in node.names]


def test_the_solver_is_found():
    assert len(SOLVER) >= 8, [p.name for p in SOLVER]


@pytest.mark.parametrize("path", SOLVER, ids=lambda p: p.name)
def test_solver_imports_no_companion_and_no_plotting(path):
    for module, _ in _imports(path):
        top = module.split(".")[0]
        assert top not in FORBIDDEN_IN_SOLVER, f"{path.name} imports {module}"
        parts = module.split(".")
        if parts[0] == "mftransformer" and len(parts) > 1:
            assert parts[1] not in COMPANION_SIDE, f"{path.name} imports {module}"


def _python_files():
    for folder in ("src", "tests", "benchmarks"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_no_private_name_is_imported_across_modules():
    crossings = []
    for path in _python_files():
        for module, names in _imports(path):
            if not module.startswith("mftransformer"):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            private += [p for p in module.split(".")[1:] if p.startswith("_") and p != "__main__"]
            if private:
                crossings.append(f"{path.relative_to(ROOT)}: from {module} import {private}")
    assert not crossings, "private names imported across modules:\n" + "\n".join(crossings)
