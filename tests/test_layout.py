"""The package's layering, read from the source: the math packages import nothing from the layers
above them (viz, widgets, the workflow layer, the CLI), and only the widgets import ipywidgets."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "nnrep_lite"
LIBRARY = ("bspline", "densities", "diffusion", "mfld", "onestep")
UPPER = ("viz", "widgets", "workflow", "cli", "sweep")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved), at any depth
    of the file (function-level imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return found


def _files(top: str) -> list[Path]:
    target = PKG / top
    return sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]


@pytest.mark.parametrize("top", LIBRARY)
def test_library_packages_import_nothing_from_the_layers_above(top):
    offenders = []
    for path in _files(top):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "nnrep_lite" and len(parts) > 1 and parts[1] in UPPER:
                offenders.append(f"{path.relative_to(PKG.parent)} imports {name}")
            if parts[0] in ("ipywidgets", "plotly", "IPython", "papermill", "nbformat"):
                offenders.append(f"{path.relative_to(PKG.parent)} imports {name}")
    assert offenders == []


def test_only_the_widgets_import_ipywidgets():
    offenders = [
        str(path.relative_to(PKG.parent))
        for path in PKG.rglob("*.py")
        if not path.is_relative_to(PKG / "widgets")
        and any(n.split(".")[0] == "ipywidgets" for n in _imports(path))
    ]
    assert offenders == []


def test_the_workflow_layer_imports_no_figures_or_panels():
    offenders = [
        f"{path.relative_to(PKG.parent)} imports {name}"
        for path in _files("workflow")
        for name in _imports(path)
        if name.startswith(("nnrep_lite.viz", "nnrep_lite.widgets", "nnrep_lite.cli"))
    ]
    assert offenders == []


def test_every_workflow_module_says_what_it_is_for_and_what_it_must_not_import():
    for path in _files("workflow"):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc and "import" in doc.lower(), f"{path.name}: its docstring must say what it imports"


def test_the_layer_test_sees_imports():
    """The checker itself: a relative import two levels up and a function-level import are found."""
    names = _imports(PKG / "bspline" / "density.py")
    assert "nnrep_lite.bspline.log_g_table.LogGTable" in names
    assert "nnrep_lite._utils" in _imports(PKG / "diffusion" / "sampling.py")
    assert any(n.startswith("papermill") for n in _imports(PKG / "workflow" / "parameters.py"))
