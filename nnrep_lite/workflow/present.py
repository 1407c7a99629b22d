"""Voila lecture mode: the voila command line (127.0.0.1, token auth on) and serving a notebook with it.
Imports the library's helpers only; never viz or widgets.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from . import UsageError

#: the voila template of lecture mode (lab, less internal outputs); it lives in JUPYTER_DATA
TEMPLATE = "nnrep"
JUPYTER_DATA = Path(__file__).parent / "jupyter_data"


def voila_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's) with the project's Jupyter data folder first on
    ``JUPYTER_PATH``, where voila finds the ``nnrep`` template."""
    import os

    env = dict(os.environ if env is None else env)
    rest = env.get("JUPYTER_PATH")
    env["JUPYTER_PATH"] = str(JUPYTER_DATA) + (os.pathsep + rest if rest else "")
    return env


def present_command(notebook, *, port: int, token: str, show_tracebacks: bool = False) -> list[str]:
    """The voila command line: bound to 127.0.0.1, token auth on, XSRF checks untouched, the
    ``nnrep`` template; run it with :func:`voila_env`."""
    from .._utils import check_int

    check_int("port", port, low=1, high=65535)
    if not token or not re.fullmatch(r"[A-Za-z0-9_-]{16,}", token):
        raise UsageError("token is invalid: must be at least 16 characters of [A-Za-z0-9_-]")
    cmd = [
        sys.executable, "-m", "voila", str(notebook), "--no-browser",
        f"--port={port}", "--Voila.ip=127.0.0.1", f"--token={token}",
        "--Voila.port_retries=0", f"--template={TEMPLATE}",
    ]
    if show_tracebacks:
        cmd.append("--show_tracebacks=True")
    return cmd


def serve(notebook, *, port: int, token: str | None = None, profile: str | None = None,
          dry_run: bool = False) -> int:
    """Serve ``notebook`` with voila until interrupted; returns voila's exit status.

    ``token`` defaults to a random one; ``profile`` sets ``NNREP_PROFILE`` for the kernel;
    ``dry_run`` prints the command instead of starting it.
    """
    import secrets
    import subprocess

    from .doctor import _has_dist

    notebook = Path(notebook)
    if not notebook.is_file():
        raise UsageError(f"notebook={str(notebook)!r} does not exist")
    if not _has_dist("voila"):
        raise UsageError("voila is not installed: fix: pip install 'nnrep-lite[lab]'")
    token = token or secrets.token_urlsafe(24)
    cmd = present_command(notebook, port=port, token=token)
    env = voila_env()
    if profile is not None:
        env["NNREP_PROFILE"] = profile
    print(f"lecture mode: http://127.0.0.1:{port}/?token={token}", flush=True)
    if dry_run:
        print(" ".join(cmd))
        return 0
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
