"""``python -m nnrep_lite`` is the ``nnrep`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
