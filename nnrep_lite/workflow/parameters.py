"""Notebook parameters: the in-notebook check (``check_parameters``) and the command line's view of a
parameters cell (``notebook_parameters``, ``validate_parameters``, coercion). Imports the library's helpers only.
"""

from __future__ import annotations

import math
from pathlib import Path

from .records import _NAME_RE, _normalise

_PARAM_NAME_RE = _NAME_RE
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class ParameterError(ValueError):
    """A parameter name or value that the notebook does not accept (refused before execution)."""


def notebook_parameters(notebook) -> dict[str, dict]:
    """The parameters of ``notebook`` (its cell tagged ``parameters``), in order.

    Returns ``{name: {"default": value or None, "source": text, "type": type or None}}``;
    ``type`` is the Python type of the literal default (None when the default is not a literal
    or is ``None``, in which case any literal value is accepted).
    """
    import ast

    import papermill as pm

    info = pm.inspect_notebook(str(notebook))
    params = {}
    for name, spec in info.items():
        source = spec.get("default", "")
        try:
            default = ast.literal_eval(source)
            kind = type(default) if default is not None else None
        except (ValueError, SyntaxError, TypeError):
            default, kind = None, None
        declared = spec.get("inferred_type_name") or "None"
        if kind is None and declared in ("int", "float", "str", "bool"):
            kind = {"int": int, "float": float, "str": str, "bool": bool}[declared]
        params[name] = {"default": default, "source": source, "type": kind}
    return params


def _describe(params: dict[str, dict]) -> str:
    if not params:
        return "the notebook has no cell tagged 'parameters'"
    parts = []
    for name, spec in params.items():
        kind = spec["type"].__name__ if spec["type"] is not None else "any literal"
        parts.append(f"{name} ({kind}, default {spec['source']})")
    return "the notebook's parameters are: " + ", ".join(parts)


def coerce_value(name: str, value, kind, params: dict[str, dict] | None = None):
    """Convert ``value`` (a command-line string or a Python value) to ``kind``.

    Strings are parsed (``"3"`` -> 3 for an int parameter, ``"true"`` -> True for a bool);
    Python values must already have the right type (an int is accepted for a float).
    Raises :class:`ParameterError` naming the parameter and listing the notebook's parameters.
    """
    import ast

    listing = f"; {_describe(params)}" if params is not None else ""

    def bad(expected):
        return ParameterError(
            f"{name}={value!r} is invalid: must be {expected} (like its default){listing}"
        )

    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise bad("a bool (true/false)")
        if kind is int:
            try:
                return int(text)
            except ValueError:
                raise bad("an int") from None
        if kind is float:
            try:
                out = float(text)
            except ValueError:
                raise bad("a float") from None
            if not math.isfinite(out):
                raise bad("a finite float")
            return out
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            if kind is None:
                return value  # an untyped parameter: keep the string
            raise bad(f"a {kind.__name__} literal") from None
        value = parsed
    if kind is None:
        _normalise(value, name)
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, bool):
        raise bad("an int")
    if kind in (list, tuple) and isinstance(value, (list, tuple)):
        return kind(value)
    if not isinstance(value, kind):
        raise bad(f"a {kind.__name__}")
    if kind is float and not math.isfinite(value):
        raise bad("a finite float")
    return value


def validate_parameters(notebook, values: dict, params: dict[str, dict] | None = None) -> dict:
    """Check names and types of ``values`` against ``notebook``'s parameters; return converted values.

    Unknown names and values of the wrong type raise :class:`ParameterError` with a message
    listing the notebook's parameters, before anything is executed.
    """
    if params is None:
        params = notebook_parameters(notebook)
    out = {}
    for name, value in values.items():
        if name not in params:
            raise ParameterError(
                f"unknown parameter {name!r} for {Path(notebook).name}; {_describe(params)}"
            )
        out[name] = coerce_value(name, value, params[name]["type"], params)
        if name == "profile":
            from .._utils import PROFILES

            if out[name] not in PROFILES:
                raise ParameterError(
                    f"profile={out[name]!r} is invalid: must be one of {', '.join(PROFILES)}"
                )
    return out


_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


#: kept in the checked namespace itself (a kernel's globals): the names present when its
#: parameters last passed the check (a private name, so the check itself skips it)
_CHECKED_KEY = "_nnrep_checked_names"


def _assigned_names(source: str, *, before_call: str | None = None) -> set[str]:
    """Names bound at top level by ``source`` (a cell); with ``before_call``, only by the
    statements before the first one that mentions it. Unparsable source binds nothing."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for stmt in tree.body:
        if before_call is not None and before_call in (ast.get_source_segment(source, stmt) or ""):
            break
        targets = []
        if isinstance(stmt, ast.Assign):
            targets = stmt.targets
        elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
            targets = [stmt.target]
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Name):
                    names.add(node.id)
    return names


def _parameter_cell_names(namespace: dict) -> set[str] | None:
    """Names the cells that just ran before this check bind: the current cell up to the
    ``check_parameters`` call and the cell before it (the parameters cell on a Run All).
    None outside an IPython kernel whose namespace this is."""
    history = namespace.get("In")
    if not isinstance(history, list) or len(history) < 2:
        return None
    names = _assigned_names(history[-1], before_call="check_parameters")
    if len(history) >= 3:
        names |= _assigned_names(history[-2])
    return names


def check_parameters(namespace: dict, **expected: type) -> dict:
    """Validate a notebook's papermill parameters right after the parameters cell.

    ``expected`` maps each parameter name to its type (``float`` also accepts ints). Any other
    public name in ``namespace`` that is a plain value (a misspelt ``-p sed 3``) is refused, as
    is a value of the wrong type; the message lists the notebook's parameters.

    Run All a second time (or re-running the parameters cell) finds the notebook's own
    globals from the first run (``SIZES``, results...): a name that did not exist when this
    namespace last passed the check was made by the notebook after it, and is accepted, unless
    the cells just run (the parameters cell, or this cell before the call) assign it. A fresh
    kernel (papermill's) has no earlier check, so every unknown plain name is refused.

    Returns:
        ``{name: value}`` of the expected parameters.
    """
    listing = ", ".join(f"{k}: {t.__name__}" for k, t in expected.items())
    plain = (bool, int, float, str, type(None), list, tuple, dict)
    unknown = [
        k for k, v in namespace.items()
        if not k.startswith("_") and k not in expected and k not in _IPYTHON_NAMES and isinstance(v, plain)
    ]
    owner, before = namespace.get(_CHECKED_KEY, (None, None))
    if owner != id(namespace):  # never checked, or a copy of a checked namespace: fresh
        before = None
    if before is not None:  # a later run in the same kernel
        just_assigned = _parameter_cell_names(namespace) or set()
        unknown = [k for k in unknown if k in before or k in just_assigned]
    unknown = sorted(unknown)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}: this notebook's parameters are {listing}")
    out = {}
    for name, typ in expected.items():
        if name not in namespace:
            raise ValueError(f"parameter {name} is missing: this notebook's parameters are {listing}")
        value = namespace[name]
        ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise TypeError(
                f"parameter {name}={value!r} is invalid: must be of type {typ.__name__} "
                f"(this notebook's parameters are {listing})"
            )
        out[name] = value
    namespace[_CHECKED_KEY] = (id(namespace), frozenset(namespace))
    return out
