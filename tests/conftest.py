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
