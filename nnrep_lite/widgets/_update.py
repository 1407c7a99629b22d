"""In-place updates of a live figure: send only what changed, in one message.

Imports numpy and plotly only. A panel's redraw that builds a new figure and hands it to
plotly whole pays for plotly's validation of every property (a full layout: 0.2 s) and, when the
trace count changes, for a delete, an add and an update message: three redraws in the page.
:func:`changed` is the part of a plotly dict that differs; :func:`fill_slots` writes a list of
traces into a figure's existing traces (blank slots past the end), so one message redraws it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["changed", "blank_trace", "fill_slots"]


def _equal(a, b) -> bool:
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and set(a) == set(b) and not changed(a, b)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == b.dtype.kind == "f"))
    if isinstance(a, (list, tuple, np.ndarray)) or isinstance(b, (list, tuple, np.ndarray)):
        try:
            a_arr, b_arr = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
        except ValueError:
            return False
        if a_arr.shape != b_arr.shape:
            return False
        return all(_equal(x, y) for x, y in zip(a_arr.ravel().tolist(), b_arr.ravel().tolist()))
    try:
        return bool(a == b) or (a != a and b != b)  # NaN equals NaN here
    except (TypeError, ValueError):
        return False


def changed(old: dict, new: dict) -> dict:
    """The part of the (nested) plotly dict ``new`` that differs from ``old``: what an in-place
    update must set (keys of ``old`` missing from ``new`` are left, as ``update`` leaves them)."""
    out = {}
    for key, val in new.items():
        if key not in old:
            out[key] = val
        elif isinstance(val, dict) and isinstance(old[key], dict):
            sub = changed(old[key], val)
            if sub:
                out[key] = sub
        elif not _equal(old[key], val):
            out[key] = val
    return out


def blank_trace(kind: str = "scatter") -> dict:
    """An empty, hidden trace: a slot a later redraw can fill."""
    return {"type": kind, "x": [], "y": [], "visible": False, "showlegend": False, "hoverinfo": "skip"}


def fill_slots(fig, traces: list[dict]) -> bool:
    """Write ``traces`` (plotly dicts) into the traces of ``fig`` in order, the rest of its traces
    blanked; each slot gets only what differs, and a property the old occupant set that the new
    one does not is reset. Call inside ``fig.batch_update()`` for one message. Returns False
    (and changes nothing) when ``fig`` has too few traces or one of another type."""
    slots = list(fig.data)
    if len(traces) > len(slots):
        return False
    fresh_all = [{k: v for k, v in t.items() if k != "uid"} for t in traces]
    fresh_all += [blank_trace(slots[i].type) for i in range(len(traces), len(slots))]
    if any(slot.type != fresh.get("type", "scatter") for slot, fresh in zip(slots, fresh_all)):
        return False
    for slot, fresh in zip(slots, fresh_all):
        old = {k: v for k, v in slot.to_plotly_json().items() if k != "uid"}
        update = {k: None for k in old if k not in fresh}
        update.update(changed(old, fresh))
        update.pop("type", None)
        if update:
            slot.update(update)
    return True
