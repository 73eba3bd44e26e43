"""``Storage.describe()``: one line naming the backend and the database, on every backend, for
the worker's banner and messages; never a password."""

from __future__ import annotations

import os
import re

from taskito.storage.base import Storage
from tests.storage.factories import Backend

# sqlite <absolute path or :memory:> | postgres <url> schema <name> | redis <url> prefix <name>
_SHAPES = {
    "sqlite-file": r"sqlite /\S+taskito\.db",
    "sqlite-memory": r"sqlite :memory:",
    "postgres": r"postgres postgresql://\S+@\S+:\d+/\S+ schema t_[0-9a-f]{16}",
    "redis": r"redis redis://\S+:\d+/\d+ prefix t[0-9a-f]{32}",
}


def test_describe_names_the_backend_and_database_on_one_line(
    backend: Backend, storage: Storage
) -> None:
    description = storage.describe()
    assert "\n" not in description
    assert re.fullmatch(_SHAPES[backend.name], description), description
    if backend.name == "sqlite-file":
        assert os.path.isabs(description.split(" ", 1)[1])
    # Still answers after close: banners and error messages may be built late.
    storage.close()
    assert storage.describe() == description
