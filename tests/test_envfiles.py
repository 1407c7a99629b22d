"""environment.yml, binder/ and pyproject.toml agree on dependencies."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
# pip distribution name -> conda-forge package name (CPU torch on conda-forge is pytorch-cpu)
CONDA_NAME = {"torch": "pytorch-cpu"}
_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def _requirements(items) -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in items]
    return {_norm(CONDA_NAME.get(_norm(r.name), r.name)): r for r in reqs}


def _conda_env(path: Path) -> tuple[dict[str, SpecifierSet], list[str], dict]:
    """(conda packages -> version specifier, pip lines, the parsed file)."""
    env = yaml.safe_load(path.read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
            continue
        m = _SPEC.match(dep)
        assert m, f"{path.name}: cannot parse {dep!r}"
        name, spec = m.groups()
        if spec.startswith("=") and not spec.startswith("=="):
            spec = f"={spec}.*"  # conda "=3.11" means 3.11.*
        conda[_norm(name)] = SpecifierSet(spec.replace(" ", ""))
    return conda, pip, env


def _pip_names(lines) -> dict[str, SpecifierSet]:
    out = {}
    for line in lines:
        if line.startswith("-"):
            continue
        req = Requirement(line)
        out[_norm(req.name)] = req.specifier
    return out


def _lower_bound(spec: SpecifierSet) -> Version | None:
    bounds = [Version(s.version.rstrip(".*")) for s in spec if s.operator in (">=", "==", ">", "~=")]
    return max(bounds) if bounds else None


def _check_covers(where: str, available: dict[str, SpecifierSet], required: dict[str, Requirement]):
    problems = []
    for name, req in required.items():
        if name not in available:
            problems.append(f"{where} lacks {name} (pyproject: {req})")
            continue
        want = _lower_bound(req.specifier)
        have = _lower_bound(available[name])
        if want is not None and (have is None or have < want):
            problems.append(f"{where} allows {name}{available[name] or ' (any)'} but pyproject needs {req}")
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def root_env():
    return _conda_env(ROOT / "environment.yml")


@pytest.fixture(scope="module")
def binder_env():
    return _conda_env(ROOT / "binder" / "environment.yml")


def _everything(env) -> dict[str, SpecifierSet]:
    conda, pip, _ = env
    return {**conda, **_pip_names(pip)}


def test_pyproject_runtime_dependencies_parse():
    runtime = _requirements(_pyproject()["dependencies"])
    assert {"pytorch-cpu", "numpy", "scipy", "plotly", "anywidget", "ipywidgets", "tqdm"} <= set(runtime)


@pytest.mark.parametrize("which", ["root", "binder"])
def test_env_lists_every_runtime_dependency(which, root_env, binder_env):
    env = root_env if which == "root" else binder_env
    _check_covers(f"{which} environment.yml", _everything(env), _requirements(_pyproject()["dependencies"]))


@pytest.mark.parametrize("which", ["root", "binder"])
def test_env_is_conda_forge_cpu_python(which, root_env, binder_env):
    conda, _pip, env = root_env if which == "root" else binder_env
    assert env["channels"] == ["conda-forge"]
    assert "pytorch-cpu" in conda and "pytorch" not in conda and "pytorch-gpu" not in conda
    assert "torch" not in _pip_names(_pip)  # pip would pull a CUDA wheel
    requires = SpecifierSet(_pyproject()["requires-python"])
    py = conda["python"]
    version = next(iter(py)).version.rstrip(".*")
    assert Version(version) in requires, f"{which}: python {py} vs requires-python {requires}"


def test_root_env_has_all_extras_and_installs_the_project(root_env):
    project = _pyproject()
    extras = project["optional-dependencies"]
    wanted = {}
    for extra in ("lab", "test", "dev"):
        wanted.update(_requirements(extras[extra]))
    _check_covers("root environment.yml", _everything(root_env), wanted)
    _conda, pip, _env = root_env
    assert "-e ." in pip or "." in pip


def test_binder_env_has_lab_and_installs_the_project(binder_env):
    _check_covers("binder/environment.yml", _everything(binder_env),
                  _requirements(_pyproject()["optional-dependencies"]["lab"]))
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable"
    text = post.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert re.search(r"pip install .*-e \.", text)
    # the launch target of the Binder badge exists once notebook 00 is written
    assert (ROOT / "notebooks").is_dir()


def test_binder_and_root_agree_on_shared_packages(root_env, binder_env):
    root, binder = _everything(root_env), _everything(binder_env)
    for name, spec in binder.items():
        assert name in root, f"binder has {name} but environment.yml does not"
        assert str(spec) == str(root[name]), f"{name}: binder {spec} vs root {root[name]}"


def test_checker_catches_a_missing_or_too_old_dependency():
    required = _requirements(["plotly>=6", "numpy>=1.24"])
    with pytest.raises(AssertionError, match="lacks numpy"):
        _check_covers("x", {"plotly": SpecifierSet(">=6")}, required)
    with pytest.raises(AssertionError, match="allows plotly>=5"):
        _check_covers("x", {"plotly": SpecifierSet(">=5"), "numpy": SpecifierSet(">=2")}, required)


def test_allocator_settings_agree_across_makefile_binder_and_library():
    """The allocator settings (README, Performance) are set in one place per entry point:
    the Makefile, binder/start and nnrep_lite._utils.ALLOCATOR_ENV carry the same values."""
    import re
    from pathlib import Path

    from nnrep_lite._utils import ALLOCATOR_ENV, allocator_env

    root = Path(__file__).resolve().parents[1]
    make = dict(re.findall(r"^export ((?:MALLOC|MKL)_\w+) \?= (\d+)$", (root / "Makefile").read_text(), re.M))
    start = dict(re.findall(r'^export ((?:MALLOC|MKL)_\w+)="\$\{\w+:-(\d+)\}"$', (root / "binder" / "start").read_text(), re.M))
    assert make == ALLOCATOR_ENV == start
    env = allocator_env({"MALLOC_TOP_PAD_": "1", "OTHER": "x"})
    assert env["MALLOC_TOP_PAD_"] == "1" and env["OTHER"] == "x"
    assert env["MALLOC_MMAP_THRESHOLD_"] == ALLOCATOR_ENV["MALLOC_MMAP_THRESHOLD_"]
