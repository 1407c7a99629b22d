import os

import pytest
import torch

# Tolerances per dtype (neural-tangents style): closed forms are checked at float64.
TOL = {torch.float32: 5e-3, torch.float64: 1e-10}

os.environ.setdefault("NNREP_PROFILE", "ci")


@pytest.fixture
def gen():
    g = torch.Generator()
    g.manual_seed(1234)
    return g


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread: the tests' tensors are small, and torch's spinning OpenMP threads
    slow small ops by orders of magnitude when kernels, servers and pytest share 2 cores."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
