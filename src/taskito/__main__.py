"""``python -m taskito``: the same command line as the ``taskito`` console script."""

from __future__ import annotations

import sys

from taskito.cli import main

if __name__ == "__main__":
    sys.exit(main())
