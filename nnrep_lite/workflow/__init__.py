"""The Jupyter workflow layer: measured records, notebook parameters, sweeps, the static report,
the environment doctor and voila lecture mode. It imports the library; the library never imports it.
"""


class UsageError(Exception):
    """Bad command-line input: printed as ``nnrep: error: ...`` with exit status 2."""
