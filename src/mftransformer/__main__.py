"""``python -m mftransformer``: the command line of :mod:`mftransformer.companion.cli`."""

import sys

from .companion.cli import main

if __name__ == "__main__":
    sys.exit(main())
