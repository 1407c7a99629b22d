"""The nnrep command: run, report, doctor, present (sweep is in test_sweep.py)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from nnrep_lite import cli
from nnrep_lite.workflow import doctor as doctor_mod
from nnrep_lite.workflow import figures as figures_mod

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_sweep.ipynb"
WIDGET = DATA / "widget_demo.ipynb"


def test_module_and_console_script_help():
    out = subprocess.run([sys.executable, "-m", "nnrep_lite", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0
    for verb in ("run", "sweep", "report", "doctor", "present"):
        assert verb in out.stdout
    script = Path(sys.executable).with_name("nnrep")
    if script.exists():  # installed with pip install -e .
        out2 = subprocess.run([str(script), "sweep", "--help"], capture_output=True, text=True,
                              timeout=60)
        assert out2.returncode == 0 and "--scheduler" in out2.stdout and "--workers" in out2.stdout
    assert cli.main([]) == 2


def test_run_refuses_unknown_and_mistyped_parameters_before_executing(tmp_path, capsys):
    target = tmp_path / "out.ipynb"
    base = ["run", str(TINY), "-o", str(target), "-q"]
    assert cli.main([*base, "-p", "alpha", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'alpha'" in err
    for listed in ("profile (str", "seed (int, default 0)", "a (int, default 1)",
                   "b (float, default 0.5)", "mode (str", "fail (bool, default False)"):
        assert listed in err
    assert cli.main([*base, "-p", "seed", "zero"]) == 2
    assert "seed='zero' is invalid: must be an int" in capsys.readouterr().err
    assert cli.main([*base, "-p", "fail", "perhaps"]) == 2
    assert "fail='perhaps' is invalid: must be a bool" in capsys.readouterr().err
    assert cli.main([*base, "-p", "profile", "huge"]) == 2
    assert "profile='huge'" in capsys.readouterr().err
    assert cli.main([*base, "-p", "a", "1", "-p", "a", "2"]) == 2
    assert "given twice" in capsys.readouterr().err
    assert cli.main(["run", str(tmp_path / "missing.ipynb")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([*base, "--profile", "huge"])
    assert not target.exists()  # nothing was executed


def test_run_executes_with_parameters_and_records(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NNREP_PROFILE", "full")  # an explicit profile wins, and is not leaked
    target = tmp_path / "out.ipynb"
    rc = cli.main(["run", str(TINY), "-p", "a", "4", "-p", "b", "0.25", "-p", "mode", "zzz",
                   "-p", "profile", "ci", "-o", str(target), "-q"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "value = 1.0" in printed
    nb = nbformat.read(target, as_version=4)
    meta = nb.metadata["nnrep"]
    assert meta["records"] == {"value": 1.0, "mode_len": 3, "profile_used": "ci"}
    assert meta["parameters"] == {"a": 4, "b": 0.25, "mode": "zzz", "profile": "ci"}
    assert meta["status"] == "ok" and meta["profile"] == "ci"
    assert os.environ["NNREP_PROFILE"] == "full"
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "a = 4" in injected[0].source


def test_run_failing_notebook_exits_1_and_keeps_the_traceback(tmp_path, capsys):
    target = tmp_path / "failed.ipynb"
    rc = cli.main(["run", str(TINY), "-p", "fail", "true", "-p", "a", "7", "-o", str(target),
                   "-q", "--profile", "ci"])
    assert rc == 1
    assert "RuntimeError: asked to fail at a=7" in capsys.readouterr().err
    nb = nbformat.read(target, as_version=4)
    assert nb.metadata["nnrep"]["status"] == "failed"
    assert any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code"
               for o in c.outputs)


def test_report_renders_interactive_site(tmp_path, capsys):
    site, executed = tmp_path / "site", tmp_path / "nbs"
    rc = cli.main(["report", str(WIDGET), str(TINY), "--out", str(site),
                   "--notebooks-out", str(executed), "--profile", "ci"])
    assert rc == 0, capsys.readouterr().err
    index = (site / "index.html").read_text()
    assert 'href="widget_demo.html"' in index and 'href="tiny_sweep.html"' in index
    assert "Widget demo (tests only)" in index and "n_points = 50" in index
    assert (site / "plotly.min.js").stat().st_size > 1_000_000
    page = (site / "widget_demo.html").read_text()
    # plotly.js is the first script (before require.js could turn it into an AMD module)
    assert page.index("<script") == page.index('<script src="plotly.min.js"')
    assert len(page) < 2_000_000  # plotly.js is shared, not inlined (nor the widget bundle)
    assert page.count("Plotly.newPlot") == 2  # the FigureWidget and a plain go.Figure
    # the figure as last drawn in the kernel: the notebook moved the slider to f = 2.5
    m = re.search(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*\{', page, re.S)
    assert m, "no plotly figure call in the page"
    trace = json.loads(m.group(1))[0]
    ys = trace["y"]
    if isinstance(ys, dict):  # plotly may encode arrays as typed-array blobs
        import base64

        import numpy as np

        ys = np.frombuffer(base64.b64decode(ys["bdata"]), dtype=ys["dtype"]).tolist()
    xs = trace["x"]
    if isinstance(xs, dict):
        import base64

        import numpy as np

        xs = np.frombuffer(base64.b64decode(xs["bdata"]), dtype=xs["dtype"]).tolist()
    assert len(ys) == 50
    assert max(abs(y - math.sin(2.5 * x)) for x, y in zip(xs, ys)) < 1e-9
    nb = nbformat.read(executed / "widget_demo.ipynb", as_version=4)
    assert nb.metadata["nnrep"]["records"] == {"n_points": 50}
    assert not any(figures_mod._SNAPSHOT_TAG in c.metadata.get("tags", []) for c in nb.cells)
    # no widget state is stored: the live figure is a static plotly output as last drawn
    assert "widgets" not in nb.metadata
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs)
    frozen = [o for o in outs if o.get("metadata", {}).get("nnrep", {}).get("frozen_widget")]
    assert len(frozen) == 1 and "text/html" not in frozen[0]["data"]
    assert frozen[0]["data"]["application/vnd.plotly.v1+json"]["data"][0]["y"] is not None
    assert (executed / "widget_demo.ipynb").stat().st_size < 200_000
    report = json.loads((site / "report.json").read_text())
    assert [e["status"] for e in report] == ["ok", "ok"] and report[0]["figures"] == 2


def test_report_failure_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad.ipynb"
    nb = nbformat.read(TINY, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("1 / 0"))
    nbformat.write(nb, bad)
    rc = cli.main(["report", str(bad), "--out", str(tmp_path / "s"), "--notebooks-out",
                   str(tmp_path / "n"), "--profile", "ci"])
    assert rc == 1
    assert "failed notebooks: bad.ipynb" in capsys.readouterr().err
    assert "ZeroDivisionError" in (tmp_path / "s" / "index.html").read_text()
    assert cli.main(["report", str(tmp_path / "nope.ipynb")]) == 2


def test_doctor_reports_versions_and_extensions(capsys):
    rc = cli.main(["doctor"])
    out = capsys.readouterr().out
    assert re.search(r"^torch \S+; device \S+", out, re.M)
    for dist in ("jupyterlab", "ipywidgets", "plotly", "anywidget"):
        assert re.search(rf"^{dist} \d", out, re.M), dist
    for ext in cli.REQUIRED_EXTENSIONS:
        assert f"labextension {ext} " in out
    assert rc == 0 and "doctor: all good" in out


def test_doctor_fix_it_lines(monkeypatch, capsys):
    exts = {"@jupyter-widgets/jupyterlab-manager": {"version": "5", "enabled": False, "ok": True},
            "jupyterlab-plotly": {"version": "6", "enabled": True, "ok": False}}
    monkeypatch.setattr(doctor_mod, "labextensions", lambda: exts)
    monkeypatch.setenv("NNREP_DEVICE", "cpu")
    problems = cli.doctor(log=lambda s: None)
    assert len(problems) == 3
    assert any("jupyter labextension enable @jupyter-widgets/jupyterlab-manager" in p for p in problems)
    assert any("anywidget is not installed" in p and "pip install anywidget" in p for p in problems)
    assert any("jupyterlab-plotly is broken" in p and "fix:" in p for p in problems)
    assert cli.main(["doctor"]) == 1
    assert capsys.readouterr().out.count("PROBLEM:") == 3


def test_present_binds_localhost_with_token(capsys):
    assert cli.main(["present", str(WIDGET), "--port", "8899", "--dry-run"]) == 0
    out = capsys.readouterr().out
    url = re.search(r"http://127\.0\.0\.1:8899/\?token=([A-Za-z0-9_-]{16,})", out)
    assert url
    cmd = cli.present_command(WIDGET, port=8899, token=url.group(1))
    assert "--Voila.ip=127.0.0.1" in cmd and f"--token={url.group(1)}" in cmd
    joined = " ".join(cmd)
    assert "xsrf" not in joined.lower() and "token=''" not in joined and "0.0.0.0" not in joined
    with pytest.raises(cli.UsageError, match="token"):
        cli.present_command(WIDGET, port=8899, token="")
    assert cli.main(["present", str(WIDGET), "--port", "0", "--dry-run"]) == 2
    assert "port=0" in capsys.readouterr().err
    assert cli.main(["present", "missing.ipynb", "--dry-run"]) == 2


@pytest.mark.parametrize("module, verb", [("papermill", "run"), ("voila", "present")])
def test_a_missing_optional_dependency_is_one_line_naming_the_extra(monkeypatch, capsys, module, verb):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ModuleNotFoundError
    if module == "voila":  # present looks the distribution up first
        from nnrep_lite.workflow import present

        monkeypatch.setattr(present, "present_command", lambda *a, **k: __import__("voila"))
        monkeypatch.setattr("nnrep_lite.workflow.doctor._has_dist", lambda name: True)
        args = ["present", str(WIDGET), "--dry-run"]
    else:
        args = ["run", str(TINY), "-o", "/tmp/never.ipynb"]
    assert cli.main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nnrep: error: {module} is not installed: fix: pip install 'nnrep-lite[lab]'"]
