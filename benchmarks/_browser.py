"""JupyterLab in Debian's chromium, for the browser benchmark and the browser tests: a local server
with a random port and token in its own process group, the browser flags, and page probes.

Never downloads a browser (``scripts/ensure_browser.sh`` apt-installs Debian's chromium).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
#: JupyterLab as it starts on a projector: 1280x720, the file browser open (its default)
VIEWPORT = {"width": 1280, "height": 720}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token() -> str:
    return secrets.token_hex(24)


class ServerError(RuntimeError):
    """A server that exited or did not answer in time (its log path in the message)."""


@contextmanager
def server(cmd, *, cwd, env, probe_url, log_path: Path, timeout: float = 90):
    """Start a server in its own process group; always stop it (TERM, then KILL)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise ServerError(f"{cmd[2:4]} exited with {proc.returncode}: see {log_path}")
                try:
                    with urllib.request.urlopen(probe_url, timeout=2):
                        break
                except urllib.error.HTTPError:
                    break  # answering (a 403 without the token is still a live server)
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise ServerError(f"server did not answer in {timeout} s: see {log_path}")
                time.sleep(0.3)
            yield proc
        finally:
            for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue


def server_env(tmp: Path, profile: str) -> dict:
    """This process's environment with private Jupyter folders under ``tmp`` and ``profile``."""
    env = dict(os.environ)
    env.update(
        NNREP_PROFILE=profile,
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        PYTHONUNBUFFERED="1",
    )
    return env


def lab_command(port: int, tok: str, root: Path) -> list[str]:
    """JupyterLab on 127.0.0.1 with token auth, no news or update checks; ``--allow-root`` as root."""
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={tok}", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def write_lab_settings(tmp: Path, windowing: str = "none") -> None:
    """No news or update toasts over the notebook, and the notebook's windowing mode: ``"none"``
    (the default here: every cell laid out, not only those scrolled into view, so that probes
    see every output) or JupyterLab's own default ``"contentVisibility"`` (offscreen cells stay
    in the page but are not laid out: what a lecturer has)."""
    notif = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True, exist_ok=True)
    (notif / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    tracker = tmp / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": windowing}))


#: the open notebook's kernel state, or null while another tab is current
LAB_STATE = """(name) => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.sessionContext || !w.sessionContext.session) return null;
  if (!w.context || w.context.path !== name) return null;  // not (yet) our notebook's tab
  const cells = w.content.widgets.filter((c) => c.model.type === 'code');
  const kernel = w.sessionContext.session.kernel;
  return {
    status: kernel ? kernel.status : 'none',
    pending: cells.filter((c) => c.model.executionCount === null).length,
    running: cells.filter((c) => (c.promptNode && c.promptNode.textContent || '').includes('*')).length,
    errors: cells.flatMap((c) => c.model.outputs.toJSON().filter((o) => o.output_type === 'error')
        .map((o) => o.ename + ': ' + o.evalue)),
  };
}"""


def wait_idle(page, timeout_s: float) -> None:
    """Until the status bar says Idle."""
    page.wait_for_function(
        "() => { const s = document.querySelector('#jp-main-statusbar');"
        " return s && /Idle/.test(s.textContent); }",
        timeout=timeout_s * 1000,
    )


def open_notebook(page, base: str, tok: str, name: str, timeout_s: float = 90) -> None:
    """Open ``name`` in a fresh workspace and wait for its kernel to be idle."""
    page.goto(f"{base}/lab/tree/{name}?reset&token={tok}")
    page.wait_for_selector(".jp-Notebook", timeout=timeout_s * 1000)
    page.wait_for_function(f"(n) => ({LAB_STATE})(n) !== null", arg=name, timeout=timeout_s * 1000)
    wait_idle(page, timeout_s)
    page.wait_for_function(f"(n) => ({LAB_STATE})(n).status === 'idle'", arg=name,
                           timeout=timeout_s * 1000)


def run_all_and_wait(page, name: str, timeout_s: float = 300) -> dict:
    """Run All and wait until every code cell has run (or one raised); returns the state."""
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_timeout(1500)  # let the run start (execution counts reset to '*')
    page.wait_for_function(
        f"(n) => {{ const s = ({LAB_STATE})(n); return s && s.status === 'idle' && "
        "(s.pending === 0 || s.errors.length > 0) && s.running === 0; }",
        arg=name, timeout=timeout_s * 1000, polling=500,
    )
    page.wait_for_timeout(1500)  # last redraws of the figures
    return page.evaluate(LAB_STATE, name)


def shutdown_kernel(page) -> None:
    page.evaluate("window.jupyterapp && window.jupyterapp.commands.execute("
                  "'kernelmenu:shutdown', {activate: false}).catch(() => {})")
