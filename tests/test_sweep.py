"""nnrep_lite.sweep: record(), parameter checks, resumable crash-safe sweeps (local pool and Dask)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

import nnrep_lite
from nnrep_lite import cli, sweep
from nnrep_lite.workflow import execution
from nnrep_lite.workflow import sweep as sweep_impl

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_sweep.ipynb"
GRID12 = {"a": ["1", "2", "3"], "b": ["0.5", "1.5"], "mode": ["x", "yy"]}
SUBGRID = {"a": ["1", "2", "3"], "b": ["1.5"], "mode": ["x", "yy"]}  # 6 of the 12 points


# ------------------------------------------------------------------ record()


def test_record_stores_and_converts():
    sweep.clear_records()
    assert nnrep_lite.record is sweep.record
    assert sweep.record("slope", np.float64(-0.75)) == -0.75
    assert sweep.record("sv", torch.tensor([3, 1], dtype=torch.int64)) == [3, 1]
    sweep.record("flag", True)
    sweep.record("table", {"n": [1, 2], "label": "x"})
    sweep.record("slope", -0.5)  # last value wins
    got = sweep.recorded()
    assert got == {"slope": -0.5, "sv": [3, 1], "flag": True, "table": {"n": [1, 2], "label": "x"}}
    assert type(got["slope"]) is float
    got["slope"] = 99  # a copy
    assert sweep.recorded()["slope"] == -0.5
    json.dumps(sweep.recorded(), allow_nan=False)
    sweep.clear_records()
    assert sweep.recorded() == {}


@pytest.mark.parametrize("name", ["", "1slope", "a b", "../x", "x.y", "é"])
def test_record_bad_name(name):
    with pytest.raises(ValueError, match="name="):
        sweep.record(name, 1.0)


def test_record_bad_name_type_and_values():
    with pytest.raises(TypeError, match="name="):
        sweep.record(3, 1.0)
    with pytest.raises(TypeError, match="value"):
        sweep.record("x", object())
    with pytest.raises(TypeError, match="value"):
        sweep.record("x", {1: 2})
    with pytest.raises(ValueError, match="value"):
        sweep.record("x", float("nan"))
    with pytest.raises(ValueError, match=r"value\[1\]"):
        sweep.record("x", [1.0, float("inf")])
    assert "x" not in sweep.recorded()


def test_collect_records_lifts_outputs_into_metadata():
    nb = nbformat.v4.new_notebook()
    c1 = nbformat.v4.new_code_cell("")
    c1.outputs = [
        nbformat.v4.new_output("display_data", data={sweep.RECORD_MIMETYPE: {"a": 1}, "text/plain": ""}),
        nbformat.v4.new_output("stream", name="stdout", text="hello"),
    ]
    c2 = nbformat.v4.new_code_cell("")
    c2.outputs = [
        nbformat.v4.new_output("display_data", data={sweep.RECORD_MIMETYPE: {"a": 2, "b": [1, 2]}}),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), c1, c2]
    assert sweep.collect_records(nb) == {"a": 2, "b": [1, 2]}
    assert nb.metadata["nnrep"]["records"] == {"a": 2, "b": [1, 2]}


# ------------------------------------------------------------------ parameters and grids


def test_notebook_parameters_types():
    params = sweep.notebook_parameters(TINY)
    assert list(params) == ["profile", "seed", "a", "b", "mode", "fail"]
    assert [params[k]["type"] for k in params] == [str, int, int, float, str, bool]
    assert params["b"]["default"] == 0.5


def test_validate_parameters_converts_and_refuses():
    ok = sweep.validate_parameters(TINY, {"a": "3", "b": "2", "fail": "true", "mode": "3"})
    assert ok == {"a": 3, "b": 2.0, "fail": True, "mode": "3"}
    assert type(ok["b"]) is float
    with pytest.raises(sweep.ParameterError, match=r"unknown parameter 'alpha'.*a \(int, default 1\)"):
        sweep.validate_parameters(TINY, {"alpha": "1"})
    with pytest.raises(sweep.ParameterError, match=r"a='x' is invalid: must be an int.*parameters are"):
        sweep.validate_parameters(TINY, {"a": "x"})
    with pytest.raises(sweep.ParameterError, match="a=1.5"):
        sweep.validate_parameters(TINY, {"a": 1.5})
    with pytest.raises(sweep.ParameterError, match="fail='maybe'"):
        sweep.validate_parameters(TINY, {"fail": "maybe"})
    with pytest.raises(sweep.ParameterError, match="b='nan'"):
        sweep.validate_parameters(TINY, {"b": "nan"})
    with pytest.raises(sweep.ParameterError, match="profile='huge'"):
        sweep.validate_parameters(TINY, {"profile": "huge"})


def test_parse_and_expand_grid():
    grid = sweep.parse_grid(["a=1,2", "mode= x , yy"])
    assert grid == {"a": ["1", "2"], "mode": ["x", "yy"]}
    pts = sweep.expand_grid(grid)
    assert pts == [{"a": "1", "mode": "x"}, {"a": "1", "mode": "yy"},
                   {"a": "2", "mode": "x"}, {"a": "2", "mode": "yy"}]
    for bad in (["a"], ["a="], ["a=1,,2"], ["1a=1"], ["a=1", "a=2"]):
        with pytest.raises(sweep.ParameterError, match="grid="):
            sweep.parse_grid(bad)


@pytest.mark.parametrize("value", ["../../x", "/etc/passwd", "..", "a/b\\c", "x\x00y", " ", "-rf"])
def test_run_names_cannot_escape(value, tmp_path):
    name = sweep.run_name({"mode": value, "a": 1})
    assert name.startswith("run-")
    assert all(ch.isalnum() or ch in "_-" for ch in name)
    assert (tmp_path / f"{name}.ipynb").resolve().parent == tmp_path.resolve()
    assert name != sweep.run_name({"mode": value + "!", "a": 1})


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "f.csv"
    execution._atomic_write(target, "old\n")
    execution._atomic_write(target, "new\n" * 1000)
    assert target.read_text() == "new\n" * 1000
    assert list(tmp_path.iterdir()) == [target]  # no temp files left behind
    assert (target.stat().st_mode & 0o777) == 0o644


# ------------------------------------------------------------------ sweeps (each point runs a kernel)


def _expected_value(a, b):
    return float(a) * float(b)  # tiny notebook: (a*b + seed) * scale, ci scale = 1, seed 0


@pytest.fixture(scope="module")
def sweep12(tmp_path_factory):
    """The issue's 12-point sweep with 2 workers, through the command line."""
    out = tmp_path_factory.mktemp("sweep12")
    argv = ["sweep", str(TINY), "--out", str(out), "--workers", "2", "--profile", "ci", "-q"]
    for name, values in GRID12.items():
        argv += ["--grid", f"{name}={','.join(values)}"]
    t0 = time.perf_counter()
    rc = cli.main(argv)
    return out, argv, rc, time.perf_counter() - t0


def _table(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows


def _comparable(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_sweep_12_points_two_workers_then_skips_all(sweep12, capsys):
    out, argv, rc, _ = sweep12
    assert rc == 0
    rows = _table(out / "results.csv")
    assert len(rows) == 12
    assert list(rows[0]) == ["run", "a", "b", "mode", "profile", "mode_len", "profile_used",
                             "value", "status", "error", "seconds"]
    seen = set()
    for row in rows:
        assert row["status"] == "ok" and row["error"] == ""
        assert float(row["value"]) == pytest.approx(_expected_value(row["a"], row["b"]), abs=1e-12)
        assert int(row["mode_len"]) == len(row["mode"])
        assert row["profile_used"] == "ci"
        assert float(row["seconds"]) > 0
        nb = nbformat.read(out / "runs" / f"{row['run']}.ipynb", as_version=4)
        assert nb.metadata["nnrep"]["records"]["value"] == pytest.approx(float(row["value"]))
        assert nb.metadata["nnrep"]["parameters"]["a"] == int(row["a"])
        seen.add((row["a"], row["b"], row["mode"]))
    assert len(seen) == 12
    capsys.readouterr()
    mtime = (out / "results.csv").stat().st_mtime_ns
    t0 = time.perf_counter()
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "skipped 12 finished" in captured.err
    assert "0 failed this run, 0 ran" in captured.out
    assert time.perf_counter() - t0 < 15  # nothing executed
    assert _table(out / "results.csv") == rows
    assert (out / "results.csv").stat().st_mtime_ns >= mtime


def test_sweep_on_dask_cluster_matches_local(sweep12, tmp_path):
    distributed = pytest.importorskip("distributed")
    out_local = sweep12[0]
    # Worker processes, as on a real cluster: threaded in-process workers share this process's
    # asyncio state with earlier tests (Playwright's sync API), and nbclient then fails with
    # "This event loop is already running".
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, protocol="tcp", dashboard_address=None,
        host="127.0.0.1",
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        res = sweep.run_sweep(TINY, SUBGRID, tmp_path / "dask", scheduler=cluster.scheduler_address,
                              profile="ci", progress=False)
    assert res.ran == 6 and res.failed == 0 and res.skipped == 0
    # the same points of the local 12-point table (run names hash the parameters)
    local = {r["run"]: r for r in _comparable(_table(out_local / "results.csv"))}
    remote = _comparable(_table(tmp_path / "dask" / "results.csv"))
    assert len(remote) == 6
    assert remote == [local[r["run"]] for r in remote]
    assert [(r["a"], r["mode"]) for r in remote] == [
        (a, m) for a in SUBGRID["a"] for m in SUBGRID["mode"]]
    assert len(list((tmp_path / "dask" / "runs").glob("*.ipynb"))) == 6


def test_failed_points_recorded_and_retried_and_paths_stay_inside(tmp_path):
    out = tmp_path / "deep" / "out"
    grid = {"mode": ["../../evil"], "fail": ["false", "true"]}
    logs = []
    res = sweep.run_sweep(TINY, grid, out, profile="ci", progress=False, log=logs.append)
    assert (res.ran, res.failed, res.skipped) == (2, 1, 0)
    rows = {r["fail"]: r for r in _table(out / "results.csv")}
    assert rows["False"]["status"] == "ok" and rows["False"]["mode_len"] == "10"
    assert rows["True"]["status"] == "failed"
    assert "RuntimeError: asked to fail at a=1" in rows["True"]["error"]
    assert any("failed" in line for line in logs)
    # nothing was written outside out/ (the value ../../evil only lives inside a file name slug)
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert all(p.startswith("deep/out/") for p in written), written
    assert not (tmp_path / "evil").exists()
    # the failed executed notebook is kept (with its traceback) and the point runs again
    failed_nb = nbformat.read(out / "runs" / f"{rows['True']['run']}.ipynb", as_version=4)
    assert failed_nb.metadata["nnrep"]["status"] == "failed"
    logs.clear()
    res2 = sweep.run_sweep(TINY, grid, out, profile="ci", progress=False, log=logs.append)
    assert (res2.ran, res2.failed, res2.skipped) == (1, 1, 1)
    assert "skipped 1 finished" in logs


def test_sweep_refuses_bad_input_before_running(tmp_path, capsys):
    base = ["sweep", str(TINY), "--out", str(tmp_path / "o"), "-q"]
    assert cli.main([*base, "--grid", "alpha=1,2"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'alpha'" in err and "seed (int, default 0)" in err
    assert cli.main([*base, "--grid", "a=1,two"]) == 2
    assert "a='two' is invalid" in capsys.readouterr().err
    assert cli.main([*base, "--grid", "a=1,1"]) == 2
    assert "repeats a point" in capsys.readouterr().err
    assert cli.main([*base, "--grid", "a=1", "--workers", "0"]) == 2
    assert "workers=0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_second_sweep_into_the_same_folder_is_refused(tmp_path):
    with sweep_impl._sweep_lock(tmp_path):
        with pytest.raises(RuntimeError, match=rf"in use: another sweep \(pid {os.getpid()}\)"):
            with sweep_impl._sweep_lock(tmp_path, wait_s=0.3):
                pass
    with sweep_impl._sweep_lock(tmp_path, wait_s=0.3):  # released afterwards
        pass


def test_sweep_survives_sigkill_and_resumes(tmp_path):
    """kill -9 the whole sweep mid-way: results.csv parses, every row's run exists, resume finishes."""
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "nnrep_lite", "sweep", str(TINY), "--grid", "a=1,2,3",
           "--out", str(out), "--profile", "ci", "-q"]
    env = dict(os.environ, NNREP_PROFILE="ci")
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    csv_path = out / "results.csv"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if csv_path.exists() and len(_table(csv_path)) >= 1:
                break
            assert proc.poll() is None, "sweep ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("sweep made no progress in 120 s")
    finally:  # kill -9 the sweep and its kernels (its own process group), also on failure
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    rows = _table(csv_path)
    assert 1 <= len(rows) < 3
    for row in rows:
        assert row["status"] == "ok"
        assert json.loads((out / "runs" / f"{row['run']}.json").read_text())["status"] == "ok"
        nbformat.validate(nbformat.read(out / "runs" / f"{row['run']}.ipynb", as_version=4))
    logs = []
    res = sweep.run_sweep(TINY, {"a": ["1", "2", "3"]}, out, profile="ci",
                          workers=2, progress=False, log=logs.append)
    assert res.skipped >= len(rows) and res.skipped + res.ran == 3 and res.failed == 0
    assert f"skipped {res.skipped} finished" in logs
    final = _table(csv_path)
    assert [int(r["a"]) for r in final] == [1, 2, 3]
    assert [float(r["value"]) for r in final] == [0.5, 1.0, 1.5]
    assert not list((out / "runs").glob(".*.tmp"))
