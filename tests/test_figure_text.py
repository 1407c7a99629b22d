"""No LaTeX in plotly text and no fixed pixel width, checked on the source of every figure builder
and panel (the per-area tests build the figures and check them with ``style.latex_in_labels``).

JupyterLab 4 leaves ``$...$`` in plotly titles blank, and a figure wider than the ~850 px output
area is cut off: every string literal of ``nnrep_lite/viz`` and ``nnrep_lite/widgets`` (docstrings
aside) must be free of ``$`` and of LaTeX commands, and no builder may set ``width=`` on a layout.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from nnrep_lite.viz import style

PKG = Path(__file__).resolve().parents[1] / "nnrep_lite"
FILES = sorted([*(PKG / "viz").glob("*.py"), *(PKG / "widgets").glob("*.py")])
LATEX = re.compile(r"\$|\\[A-Za-z]+|_\{|\^\{")


def _docstrings(tree) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _strings(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


@pytest.mark.parametrize("path", [f for f in FILES if f.name != "style.py"],  # style.py holds the checker
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_latex_in_the_text_of_figures_and_panels(path):
    hits = [(line, text) for line, text in _strings(path) if LATEX.search(text)]
    assert hits == [], f"{path.name}: LaTeX shows blank in plotly text; use Unicode, <sub>, <sup>"


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_fixed_pixel_width_on_a_figure(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "width" and isinstance(node.value, ast.Constant):
            hits.append(node.lineno)
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if (isinstance(key, ast.Constant) and key.value == "width"
                        and isinstance(value, ast.Constant) and isinstance(value.value, (int, float))
                        and value.value > 40):  # line widths (a few px) are fine
                    hits.append(node.lineno)
    widths = [n for n in hits if _is_layout_width(path, n)]
    assert widths == [], f"{path.name}: a figure width is fixed at lines {widths}; figures follow the output area"


def _is_layout_width(path: Path, lineno: int) -> bool:
    """A fixed width of more than 40 px on a figure or layout (not a line or marker width)."""
    line = path.read_text(encoding="utf-8").splitlines()[lineno - 1]
    m = re.search(r"""["']?width["']?\s*[:=]\s*(\d+)""", line)
    return bool(m) and int(m.group(1)) > 40 and "line" not in line.split("width")[0][-12:]


def test_the_checks_find_latex_and_widths():
    assert LATEX.search("objective $F(\\mu_k)$") and LATEX.search("N_{m-1}")
    assert not LATEX.search("F(μ<sub>k</sub>)") and not LATEX.search("‖P<sub>&gt;1</sub>f*‖²")
    fig = style.new_figure(title="objective $F$")
    assert style.latex_in_labels(fig) == [("title", "objective $F$")]
    assert style.fixed_width(style.new_figure()) is None
    with pytest.raises(ValueError, match="width"):
        style.projector_layout(width=900)


def test_log_ticks_thin_out_on_wide_ranges():
    from nnrep_lite.viz.style import log_ticks

    assert log_ticks([1.0, 90.0])["ticktext"] == ["1", "2", "5", "10", "20", "50", "100"]
    assert log_ticks([1e-3, 5.0])["tickvals"] == pytest.approx([1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3])
    assert log_ticks([1e-4, 10.0])["ticktext"] == ["0.0001", "0.001", "0.01", "0.1", "1", "10"]
    assert log_ticks([0.0, -1.0, float("nan")]) == {}


def test_fit_log_ticks_labels_each_log_axis_from_its_own_traces():
    fig = style.subplots(2)
    fig.add_scatter(x=[1, 2, 3], y=[1e-3, 1e-2, 5e-2], row=1, col=1)
    fig.add_scatter(x=[1, 2], y=[3, 40], error_y={"type": "data", "array": [1, 10]}, row=1, col=2)
    fig.update_yaxes(type="log")
    style.fit_log_ticks(fig)
    assert fig.layout.yaxis.ticktext == ("0.001", "0.002", "0.005", "0.01", "0.02", "0.05")
    assert fig.layout.yaxis2.ticktext == ("2", "5", "10", "20", "50")  # 3 - 1 ... 40 + 10
    assert fig.layout.xaxis.tickvals is None  # linear axes are left alone
    fig.data[1].y = [300, 4000]
    style.fit_log_ticks(fig)
    assert fig.layout.yaxis2.ticktext[0] == "2"  # kept: it already had ticks
    style.fit_log_ticks(fig, refit=True)
    assert fig.layout.yaxis2.ticktext[0] == "200"


def test_figure_builders_label_their_log_axes():
    """Plotly's own minor labels on a log axis are tiny digits: the builders set 1-2-5 ticks."""
    import numpy as np

    from nnrep_lite.viz import mfld as V

    fig = V.curves_figure([("fixed λ<sub>2</sub>", np.arange(1, 50), np.geomspace(1, 0.02, 49))])
    assert fig.layout.yaxis.ticktext == ("0.02", "0.05", "0.1", "0.2", "0.5", "1")
    fig = V.objective_figure()
    V.update_objective(fig, {"step": list(range(1, 41)), "F": list(np.geomspace(3, 0.3, 40))})
    assert fig.layout.yaxis.ticktext == ("0.2", "0.5", "1", "2")  # follows the live data
