"""Package-level promises: fast import, the public helpers, device and seed handling."""

import subprocess
import sys

import pytest
import torch

import nnrep_lite


def test_import_is_lazy_and_light():
    # `import nnrep_lite` must not pay for torch, scipy or plotly (a deterministic proxy for
    # "import under 2 s": torch alone takes 1-5 s here)
    code = "import sys, nnrep_lite; print(sorted(m for m in ('torch', 'scipy', 'plotly', 'ipywidgets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names():
    for name in ["__version__", "default_device", "as_generator", "resolve_profile", "DivergenceError",
                 "record", "check_parameters", "bspline", "densities", "diffusion", "mfld", "onestep"]:
        assert getattr(nnrep_lite, name) is not None
    assert issubclass(nnrep_lite.DivergenceError, ValueError)
    with pytest.raises(AttributeError):
        nnrep_lite.no_such_name  # noqa: B018


def test_default_device_honours_env(monkeypatch):
    monkeypatch.setenv("NNREP_DEVICE", "cpu")
    assert nnrep_lite.default_device() == torch.device("cpu")
    monkeypatch.delenv("NNREP_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        expected = "mps"
    assert nnrep_lite.default_device().type == expected


def test_as_generator():
    g = nnrep_lite.as_generator(7)
    assert torch.equal(torch.rand(5, generator=g), torch.rand(5, generator=nnrep_lite.as_generator(7)))
    assert nnrep_lite.as_generator(None) is None
    assert nnrep_lite.as_generator(g) is g
    with pytest.raises(TypeError, match="seed"):
        nnrep_lite.as_generator(1.5)


def test_resolve_profile(monkeypatch):
    monkeypatch.delenv("NNREP_PROFILE", raising=False)
    assert nnrep_lite.resolve_profile("full") == "full"
    monkeypatch.setenv("NNREP_PROFILE", "ci")
    assert nnrep_lite.resolve_profile("default") == "ci"
    monkeypatch.setenv("NNREP_PROFILE", "tiny")
    with pytest.raises(ValueError, match="NNREP_PROFILE"):
        nnrep_lite.resolve_profile("default")
