"""The one projector style every figure builder uses: palette, fonts, width that follows the
output area, legends that stay inside the figure, and panels that stack on a narrow screen.

Plotly text is not LaTeX: JupyterLab 4 leaves ``$...$`` in plotly titles blank. Labels use
Unicode and plotly's ``<sub>``/``<sup>`` (σ<sub>t</sub>, λ<sub>2</sub>, ‖P<sub>&gt;1</sub>f*‖²);
:func:`figure_texts` lists every label of a figure so tests can check them.
Imports plotly and numpy only; live figures are :class:`~nnrep_lite.viz.live.LiveFigure` s.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import live as _live

# Okabe-Ito: distinguishable with every common colour-vision deficiency
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

#: The width budget every figure is designed for: JupyterLab's output area at 1280x720 with
#: the file browser open is about 850 px. Figures carry no fixed width (they follow the output
#: area); this number only decides how many panels sit side by side.
OUTPUT_WIDTH_PX = 850
#: Below this width a row of three panels does not read: :func:`panel_grid` wraps them.
WRAP_BELOW_PX = 900
#: The narrowest a panel may be (px): panels side by side keep at least this much each.
MIN_PANEL_PX = 400

TICK_FONT_PX = 14
TITLE_FONT_PX = 17
AXIS_TITLE_FONT_PX = 16
LEGEND_FONT_PX = 14
FONT_FAMILY = "Open Sans, Verdana, Arial, sans-serif"

#: Default figure height (px) for one panel; builders pass their own for taller layouts.
DEFAULT_HEIGHT = 440

_LEGENDS = ("below", "inside", "right-inside", "none")


def projector_layout(*, height: int = DEFAULT_HEIGHT, legend: str = "below", **layout) -> dict:
    """Layout keyword arguments for a figure read on a projector.

    ``autosize`` with no width: the figure fills the output area (JupyterLab, voila and the
    static report alike). ``legend`` is one of ``"below"`` (horizontal, under the plot: wraps
    onto more rows instead of leaving the figure), ``"inside"`` (top left corner of the plot,
    on a translucent box), ``"right-inside"`` (top right corner) or ``"none"``.
    Extra keyword arguments are passed on (and win over the defaults).
    """
    if legend not in _LEGENDS:
        raise ValueError(f"legend={legend!r} is invalid: must be one of {', '.join(_LEGENDS)}")
    if "width" in layout:
        raise ValueError("width is not allowed: figures follow the output area (autosize)")
    base: dict = {
        "template": "plotly_white",
        "autosize": True,
        "height": int(height),
        "font": {"size": TICK_FONT_PX, "family": FONT_FAMILY},
        "title": {"font": {"size": TITLE_FONT_PX}, "x": 0.02, "xanchor": "left"},
        "margin": {"l": 70, "r": 30, "t": 60, "b": 60},
        "hoverlabel": {"font": {"size": LEGEND_FONT_PX}},
    }
    legend_box = {"font": {"size": LEGEND_FONT_PX}, "bgcolor": "rgba(255,255,255,0.75)"}
    if legend == "below":
        # at the bottom of the figure (container coordinates), so that however many rows it
        # wraps onto it never rides up over the x-axis labels: placed in plot coordinates
        # (y = -0.18) a legend of four rows covered the ticks and axis title of a FigureWidget
        # (the margin it pushes shrinks the plot, which moves it up); plotly grows the bottom
        # margin to fit it
        base["legend"] = {**legend_box, "orientation": "h", "x": 0, "xanchor": "left",
                          "yref": "container", "y": 0, "yanchor": "bottom"}
        base["margin"]["b"] = 70
    elif legend == "inside":
        base["legend"] = {**legend_box, "x": 0.01, "xanchor": "left", "y": 0.99, "yanchor": "top"}
    elif legend == "right-inside":
        base["legend"] = {**legend_box, "x": 0.99, "xanchor": "right", "y": 0.99, "yanchor": "top"}
    else:
        base["showlegend"] = False
    title = layout.pop("title", None)
    if title is not None:
        base["title"] = {**base["title"], **(title if isinstance(title, dict) else {"text": title})}
    _merge(base, layout)
    return base


def _merge(into: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**into[key]}
            _merge(into[key], value)
        else:
            into[key] = value


def style_axes(fig: go.Figure) -> go.Figure:
    """Tick and axis-title fonts of every axis (subplots included), automargin on."""
    fig.update_xaxes(tickfont={"size": TICK_FONT_PX}, title_font={"size": AXIS_TITLE_FONT_PX},
                     automargin=True)
    fig.update_yaxes(tickfont={"size": TICK_FONT_PX}, title_font={"size": AXIS_TITLE_FONT_PX},
                     automargin=True)
    fig.update_annotations(font_size=AXIS_TITLE_FONT_PX)  # subplot titles
    return fig


def log_ticks(values) -> dict:
    """``tickvals``/``ticktext`` for a log axis covering ``values``: at 1, 2, 5 x 10^k over up to
    2.5 decades, 1 and 3 x 10^k up to 4, powers of ten beyond (plotly's own minor labels on a log
    axis are drawn smaller than the projector's tick font, and crowd on a wide range)."""
    v = np.asarray([x for x in np.ravel(values) if np.isfinite(x) and x > 0], dtype=float)
    if v.size == 0:
        return {}
    span = math.log10(v.max() / v.min())
    mantissas = (1, 2, 5) if span <= 2.5 else (1, 3) if span <= 4 else (1,)
    lo, hi = math.floor(math.log10(v.min())), math.ceil(math.log10(v.max()))
    ticks = [m * 10.0**k for k in range(lo - 1, hi + 1) for m in mantissas]
    ticks = [t for t in ticks if v.min() / 1.6 <= t <= v.max() * 1.6]
    return {"tickvals": ticks, "ticktext": [_tick_text(t) for t in ticks]}


def _tick_text(t: float) -> str:
    """``0.001``, ``20``, ``5000`` as such; beyond 10⁻⁴ and 10⁵ as powers of ten (not ``1e-05``)."""
    if 1e-4 <= t < 1e5:
        return f"{t:g}"
    k = math.floor(math.log10(t) + 1e-9)
    m = round(t / 10.0**k)
    power = f"10<sup>{'−' if k < 0 else ''}{abs(k)}</sup>"
    return power if m == 1 else f"{m}·{power}"


def _axis_values(fig, name: str) -> list:
    """Every positive finite value the traces plot on layout axis ``name`` (e.g. "yaxis2"),
    error bars included."""
    letter, suffix = name[0], name[5:]
    ref = letter + suffix  # "y2"
    vals: list = []
    for tr in fig.data:
        on = getattr(tr, letter + "axis", None) or letter
        if on != ref:
            continue
        data = getattr(tr, letter, None)
        if data is None:
            continue
        arr = np.asarray(data, dtype=float).ravel()
        vals.append(arr)
        err = getattr(tr, "error_" + letter, None)
        if err is not None and err.array is not None and err.visible is not False:
            e = np.asarray(err.array, dtype=float).ravel()
            if e.shape == arr.shape:
                vals += [arr - e, arr + e]
    return vals


def fit_log_ticks(fig, *, refit: bool = False):
    """Give every log axis of ``fig`` :func:`log_ticks` labels covering its data (traces and
    their error bars); axes that already carry tick values keep them unless ``refit`` (a live
    figure whose data changed). Returns ``fig``."""
    for axis in [*fig.select_xaxes(), *fig.select_yaxes()]:  # no copy of the layout (live updates)
        if axis.type != "log" or (axis.tickvals is not None and not refit):
            continue
        values = _axis_values(fig, axis.plotly_name)
        ticks = log_ticks(np.concatenate(values)) if values else {}
        if ticks and tuple(axis.tickvals or ()) != tuple(ticks["tickvals"]):  # no message if unchanged
            axis.update(**ticks)
    return fig


def new_figure(widget: bool = False, *, height: int = DEFAULT_HEIGHT, legend: str = "below",
               **layout) -> go.Figure:
    """An empty ``go.Figure`` (or ``go.FigureWidget`` with ``widget=True``) in the projector style."""
    fig = _live.LiveFigure() if widget else go.Figure()
    fig.update_layout(**projector_layout(height=height, legend=legend, **layout))
    return style_axes(fig)


def apply_style(fig: go.Figure, *, height: int = DEFAULT_HEIGHT, legend: str = "below",
                **layout) -> go.Figure:
    """Put an existing figure (e.g. from ``make_subplots``) in the projector style; returns it."""
    fig.update_layout(**projector_layout(height=height, legend=legend, **layout))
    return style_axes(fig)


def panel_grid(n_panels: int, *, available_px: int = OUTPUT_WIDTH_PX, max_cols: int = 2) -> tuple[int, int]:
    """``(rows, cols)`` for ``n_panels`` subplots: side by side while each keeps at least
    ``MIN_PANEL_PX``, wrapped onto more rows otherwise (at 850 px: two columns at most)."""
    if n_panels < 1:
        raise ValueError(f"n_panels={n_panels} is invalid: must be >= 1")
    cols = max(1, min(n_panels, max_cols, available_px // MIN_PANEL_PX))
    rows = -(-n_panels // cols)
    return rows, cols


def subplots(n_panels: int, *, widget: bool = False, titles=None, panel_height: int = 360,
             legend: str = "below", shared_xaxes: bool = False, max_cols: int = 2,
             specs=None, **layout) -> go.Figure:
    """``n_panels`` subplots laid out by :func:`panel_grid` (two a row at most, stacked below
    that), in the projector style. Panel ``i`` (0-based) is at ``row = i // cols + 1``,
    ``col = i % cols + 1``: use :func:`panel_position`."""
    rows, cols = panel_grid(n_panels, max_cols=max_cols)
    if specs is not None and len(specs) != rows * cols:
        raise ValueError(f"specs has {len(specs)} entries: must have rows*cols = {rows * cols}")
    grid_specs = None
    if specs is not None:
        grid_specs = [list(specs[r * cols:(r + 1) * cols]) for r in range(rows)]
    titles = list(titles) if titles is not None else None
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_xaxes=shared_xaxes,
                        horizontal_spacing=0.14 if cols > 1 else 0.0,
                        vertical_spacing=min(0.3, 0.5 / rows) if rows > 1 else 0.0,
                        specs=grid_specs)
    if widget:
        fig = _live.LiveFigure(fig)
    height = layout.pop("height", panel_height * rows + 40)
    return apply_style(fig, height=height, legend=legend, **layout)


def panel_position(i: int, n_panels: int, *, max_cols: int = 2) -> dict:
    """``{"row": r, "col": c}`` of panel ``i`` in :func:`subplots` with ``n_panels`` panels."""
    _, cols = panel_grid(n_panels, max_cols=max_cols)
    return {"row": i // cols + 1, "col": i % cols + 1}


def theory_line(**line) -> dict:
    """Line style for a theoretical curve: dashed, 3 px."""
    return {"dash": "dash", "width": 3, **line}


# ------------------------------------------------------------------ label checks


def _texts_of_layout(layout: dict) -> Iterator[tuple[str, str]]:
    title = layout.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if title:
        yield "title", str(title)
    for key, value in layout.items():
        if (key.startswith("xaxis") or key.startswith("yaxis") or key.startswith("zaxis")
                or key in ("scene",) or key.startswith("coloraxis")) and isinstance(value, dict):
            if key == "scene" or key.startswith("scene"):
                yield from _texts_of_layout(value)
                continue
            t = value.get("title")
            if isinstance(t, dict):
                t = t.get("text")
            if t:
                yield f"{key}.title", str(t)
            cbar = value.get("colorbar") or {}
            ct = (cbar.get("title") or {}) if isinstance(cbar, dict) else {}
            ct = ct.get("text") if isinstance(ct, dict) else ct
            if ct:
                yield f"{key}.colorbar.title", str(ct)
    for i, ann in enumerate(layout.get("annotations") or []):
        if ann.get("text"):
            yield f"annotations[{i}]", str(ann["text"])
    legend = layout.get("legend") or {}
    lt = legend.get("title") if isinstance(legend, dict) else None
    lt = lt.get("text") if isinstance(lt, dict) else lt
    if lt:
        yield "legend.title", str(lt)
    for i, menu in enumerate(layout.get("updatemenus") or []):
        for j, button in enumerate(menu.get("buttons") or []):
            if button.get("label"):
                yield f"updatemenus[{i}].buttons[{j}]", str(button["label"])
    for i, slider in enumerate(layout.get("sliders") or []):
        cv = (slider.get("currentvalue") or {}).get("prefix")
        if cv:
            yield f"sliders[{i}].prefix", str(cv)


def figure_texts(fig) -> list[tuple[str, str]]:
    """Every human-readable label of a figure as ``(where, text)``: the title, axis titles,
    colour-bar titles, annotations, legend title, trace names shown in the legend, and
    colour bars of traces. Used to check that no label holds LaTeX (``$`` or ``\\``)."""
    d = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else dict(fig)
    out = list(_texts_of_layout(d.get("layout") or {}))
    for i, trace in enumerate(d.get("data") or []):
        name = trace.get("name")
        if name and trace.get("showlegend", True) is not False:
            out.append((f"data[{i}].name", str(name)))
        for holder in (trace, trace.get("marker") or {}):
            cbar = holder.get("colorbar") if isinstance(holder, dict) else None
            if isinstance(cbar, dict):
                ct = cbar.get("title")
                ct = ct.get("text") if isinstance(ct, dict) else ct
                if ct:
                    out.append((f"data[{i}].colorbar.title", str(ct)))
        lg = trace.get("legendgrouptitle")
        if isinstance(lg, dict) and lg.get("text"):
            out.append((f"data[{i}].legendgrouptitle", str(lg["text"])))
    return out


def latex_in_labels(fig) -> list[tuple[str, str]]:
    """The labels of ``fig`` that hold ``$`` or a backslash (LaTeX that JupyterLab 4 shows blank)."""
    return [(where, text) for where, text in figure_texts(fig) if "$" in text or "\\" in text]


def fixed_width(fig) -> int | None:
    """The figure's fixed pixel width, or None when it follows the output area."""
    layout = fig.to_plotly_json().get("layout", {}) if hasattr(fig, "to_plotly_json") else fig.get("layout", {})
    w = layout.get("width")
    return None if w is None else int(w)


def to_numpy(x) -> np.ndarray:
    """A float64 numpy array on the CPU from a tensor (any device), array or sequence."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def __getattr__(name: str):
    if name == "LiveFigure":  # style.LiveFigure(fig): the class, made on first use (see viz.live)
        return _live.LiveFigure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
