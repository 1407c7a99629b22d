"""The environment doctor: torch and its device, the Jupyter packages and the widget front-end extensions,
with one fix-it line per problem. Imports the library's helpers only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

REQUIRED_EXTENSIONS = {
    "@jupyter-widgets/jupyterlab-manager": "ipywidgets front-end (pip install 'ipywidgets>=8' 'jupyterlab_widgets')",
    "anywidget": "anywidget front-end, used by plotly FigureWidget (pip install anywidget)",
    "jupyterlab-plotly": "plotly renderer for JupyterLab (pip install 'plotly>=6')",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def labextensions() -> dict[str, dict] | None:
    """``{name: {"version", "enabled", "ok"}}`` from ``jupyter labextension list``; None without JupyterLab."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "jupyter", "labextension", "list"],
            capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    found = {}
    for line in _ANSI.sub("", proc.stdout + "\n" + proc.stderr).splitlines():
        m = re.match(r"\s+(\S+)\s+v(\S+)\s+(enabled|disabled)\s+(OK|X)", line)
        if m:
            found[m.group(1)] = {"version": m.group(2), "enabled": m.group(3) == "enabled",
                                 "ok": m.group(4) == "OK"}
    return found


def doctor(log=print) -> list[str]:
    """Print the environment; return one fix-it line per problem (empty when all is well)."""
    from importlib import metadata

    problems = []
    try:
        import torch

        from .._utils import default_device

        device = default_device()
        log(f"torch {torch.__version__}; device {device}")
        if torch.cuda.is_available():
            log(f"  CUDA {torch.version.cuda}: {torch.cuda.get_device_name(0)}")
        elif os.environ.get("NNREP_DEVICE", "").startswith("cuda"):
            problems.append("NNREP_DEVICE asks for cuda but torch sees no GPU: fix: unset "
                            "NNREP_DEVICE or install the CUDA build of torch")
    except Exception as exc:  # a broken torch is exactly what doctor is for
        problems.append(f"torch does not import ({exc}): fix: make venv (installs CPU torch)")
    for dist, extra in (("jupyterlab", "lab"), ("ipywidgets", ""), ("plotly", ""),
                        ("anywidget", ""), ("voila", "lab"), ("papermill", "lab"),
                        ("nbconvert", "lab"), ("jupyter-server-mathjax", "lab")):
        try:
            log(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            target = f"'nnrep-lite[{extra}]'" if extra else dist
            problems.append(f"{dist} is not installed: fix: pip install {target}")
    exts = labextensions() if _has_dist("jupyterlab") else None
    if exts is None:
        if _has_dist("jupyterlab"):
            problems.append("`jupyter labextension list` failed: fix: pip install --force-reinstall jupyterlab")
    else:
        for name, what in REQUIRED_EXTENSIONS.items():
            info = exts.get(name)
            if info is None:
                problems.append(f"JupyterLab extension {name} is not installed: {what}")
            elif not info["enabled"]:
                problems.append(f"JupyterLab extension {name} is disabled: fix: jupyter labextension enable {name}")
            elif not info["ok"]:
                problems.append(f"JupyterLab extension {name} is broken: fix: pip install --force-reinstall {name}")
            else:
                log(f"labextension {name} {info['version']} enabled OK")
    for line in problems:
        log(f"PROBLEM: {line}")
    log("doctor: all good" if not problems else f"doctor: {len(problems)} problem(s)")
    return problems


def _has_dist(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False
