"""Measured values out of notebooks: ``record`` in a kernel, ``collect_records`` from an executed notebook.
Imports only the standard library (and IPython when displaying); never the math packages' internals.

Inside a notebook kernel, :func:`record` stores a JSON-able measured value (a slope, an
error, a flag). It is kept in-process (:func:`recorded`) and displayed as an output with the
mimetype ``application/vnd.nnrep.record+json`` (plus a ``text/plain`` line for humans), so
that after papermill has executed the notebook :func:`collect_records` can lift every record
into ``nb.metadata["nnrep"]["records"]``.
"""

from __future__ import annotations

import json
import math
import re

RECORD_MIMETYPE = "application/vnd.nnrep.record+json"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RECORDS: dict[str, object] = {}


def _normalise(value, path: str = "value"):
    """Return ``value`` as plain JSON types (numpy/torch scalars and arrays via ``tolist``)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}={value!r} is invalid: must be a finite number")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_normalise(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path} key {k!r} is invalid: dict keys must be str")
            out[k] = _normalise(v, f"{path}[{k!r}]")
        return out
    tolist = getattr(value, "tolist", None)  # numpy scalars/arrays, torch tensors
    if callable(tolist) and type(value).__module__.split(".")[0] in ("numpy", "torch"):
        return _normalise(tolist(), path)
    raise TypeError(
        f"{path}={value!r} is invalid: must be JSON-serialisable "
        "(int, float, str, bool, None, or lists/dicts of those)"
    )


def record(name: str, value) -> object:
    """Record a measured ``value`` under ``name`` for sweeps and reports; returns the stored value.

    ``name`` must be an identifier (letters, digits, underscores; not starting with a digit).
    ``value`` must be JSON-serialisable: numbers (finite), str, bool, None, or lists/dicts of
    those; numpy scalars/arrays and torch tensors are converted with ``tolist()``.
    Recording the same name twice keeps the last value.
    """
    if not isinstance(name, str):
        raise TypeError(f"name={name!r} is invalid: must be a str identifier such as 'slope'")
    if not _NAME_RE.match(name):
        raise ValueError(
            f"name={name!r} is invalid: must be a non-empty identifier "
            "(letters, digits, underscores; not starting with a digit)"
        )
    stored = _normalise(value)
    json.dumps(stored, allow_nan=False)  # defensive: must round-trip as strict JSON
    _RECORDS[name] = stored
    _display(name, stored)
    return stored


def _display(name: str, value) -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of ipywidgets
        return
    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return
    from IPython.display import display

    display(
        {RECORD_MIMETYPE: {name: value}, "text/plain": f"recorded {name} = {json.dumps(value)}"},
        raw=True,
    )


def recorded() -> dict:
    """The values recorded in this process so far (a copy)."""
    return dict(_RECORDS)


def clear_records() -> None:
    """Forget the in-process records (tests, repeated runs in one kernel)."""
    _RECORDS.clear()


def collect_records(nb) -> dict:
    """Lift every record output of an executed notebook into ``nb.metadata["nnrep"]["records"]``.

    ``nb`` is an ``nbformat`` notebook (or a dict of the same shape). Later records of the
    same name win, as in the kernel. Returns the records dict.
    """
    records: dict[str, object] = {}
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            payload = data.get(RECORD_MIMETYPE)
            if payload is None:
                continue
            if isinstance(payload, str):  # some writers store JSON mimetypes as text
                payload = json.loads(payload)
            records.update(payload)
    meta = nb["metadata"].setdefault("nnrep", {})
    meta["records"] = records
    return records
