"""``python -m taskito.prefork APP ...``: the command a prefork pool starts each child with.

The child itself lives in ``taskito.worker.pools.prefork.child_main``; this module stays at
the top of the package only so that this short, documented command line keeps working for
the pool, for anything that looks for it in a process list, and for callers that start a
child by hand. It does nothing but call the child's ``main``.
"""

from __future__ import annotations

import sys

from taskito.worker.pools.prefork.child_main import main

if __name__ == "__main__":
    sys.exit(main())
