"""The workflow layer's public names under their earlier path (``nnrep_lite.sweep.run_sweep``,
``nnrep_lite.sweep.record``, ...). The code lives in :mod:`nnrep_lite.workflow`.
"""

from .workflow.execution import execute_notebook
from .workflow.parameters import (
    ParameterError,
    check_parameters,
    coerce_value,
    notebook_parameters,
    validate_parameters,
)
from .workflow.records import RECORD_MIMETYPE, clear_records, collect_records, record, recorded
from .workflow.sweep import (
    RESERVED_COLUMNS,
    SweepResult,
    expand_grid,
    parse_grid,
    read_results,
    run_name,
    run_sweep,
)

__all__ = [
    "RECORD_MIMETYPE", "RESERVED_COLUMNS", "ParameterError", "SweepResult", "check_parameters",
    "clear_records", "coerce_value", "collect_records", "execute_notebook", "expand_grid",
    "notebook_parameters", "parse_grid", "read_results", "record", "recorded", "run_name",
    "run_sweep", "validate_parameters",
]
