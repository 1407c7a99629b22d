"""Executing one notebook with papermill (used by run, sweep and report) and crash-safe file writes.
Imports the library's helpers only; never viz or widgets.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .records import collect_records


def _atomic_write(path: Path, data) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)


def _restore_env(name: str, value: str | None, changed: bool) -> None:
    if not changed:
        return
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def execute_notebook(
    notebook,
    output,
    parameters: dict | None = None,
    *,
    profile: str | None = None,
    cwd=None,
    progress: bool = False,
    timeout: float | None = None,
    freeze: bool = True,
):
    """Execute ``notebook`` with papermill into ``output``; returns ``(nb, records, error)``.

    ``error`` is None on success, else ``"ExceptionName: message"`` (the executed notebook,
    with the failing cell's traceback, is still written). ``profile`` (default: the
    ``profile`` parameter, if given) sets ``NNREP_PROFILE`` for the kernel, which the
    notebooks' ``resolve_profile`` honours.
    Records made with :func:`record` are lifted into ``nb.metadata["nnrep"]["records"]``.

    With ``freeze`` (the default) the executed notebook stores no widget state: every live
    figure is saved as a static plotly output as last drawn (:mod:`.figures`), and plain
    figures as the plotly mimetype without an embedded plotly.js (``PLOTLY_RENDERER``), so
    that it stays small and still shows its figures when reopened without a kernel.
    """
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from .figures import add_snapshot_cell, freeze_figures

    parameters = dict(parameters or {})
    if profile is None and isinstance(parameters.get("profile"), str):
        profile = parameters["profile"]  # an explicit parameter beats an ambient NNREP_PROFILE
    previous = os.environ.get("NNREP_PROFILE")
    if profile is not None:
        from .._utils import PROFILES, check_choice

        check_choice("profile", profile, PROFILES)
        os.environ["NNREP_PROFILE"] = profile  # the kernel inherits it
    used_profile = os.environ.get("NNREP_PROFILE") or parameters.get("profile")
    if cwd is None:
        cwd = Path(notebook).parent
    previous_renderer = os.environ.get("PLOTLY_RENDERER")
    if freeze:
        os.environ["PLOTLY_RENDERER"] = "plotly_mimetype"  # no plotly.js inside the notebook
    error = None
    try:
        with tempfile.TemporaryDirectory(prefix="nnrep-run-") as tmp:
            source = Path(notebook)
            if freeze:
                staged_nb = nbformat.read(str(notebook), as_version=4)
                add_snapshot_cell(staged_nb)
                source = Path(tmp) / Path(notebook).name
                nbformat.write(staged_nb, str(source))
            pm.execute_notebook(
                str(source),
                str(output),
                parameters=parameters,
                progress_bar=progress,
                cwd=str(cwd),
                execution_timeout=timeout,
                start_timeout=300,  # a busy machine can take minutes to start a kernel
            )
    except PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
    finally:
        _restore_env("NNREP_PROFILE", previous, profile is not None)  # do not leak into the caller
        _restore_env("PLOTLY_RENDERER", previous_renderer, freeze)
    nb = nbformat.read(str(output), as_version=4)
    records = collect_records(nb)
    meta = nb.metadata.setdefault("nnrep", {})
    if freeze:
        meta["figures"] = freeze_figures(nb)
    meta["parameters"] = parameters
    meta["profile"] = used_profile
    meta["status"] = "ok" if error is None else "failed"
    if error is not None:
        meta["error"] = error
    _atomic_write(Path(output), nbformat.writes(nb))
    return nb, records, error
