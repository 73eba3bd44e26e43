"""The one table of pool names (``taskito.worker.pools.POOLS``) agrees with the pools, and
importing it (as the façade does when ``taskito`` is imported) does not load the worker loop."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from taskito.worker.pools import POOL_NAMES, POOLS, check_pool_name


@pytest.mark.parametrize("name", POOL_NAMES)
def test_each_name_leads_to_the_pool_of_that_name(name: str) -> None:
    module_name, _, class_name = POOLS[name].partition(":")
    pool_class = getattr(importlib.import_module(module_name), class_name)
    assert pool_class.name == name
    assert check_pool_name(name) == name


def test_the_names_are_in_the_documented_order() -> None:
    assert POOL_NAMES == ("thread", "prefork", "async")


def test_importing_taskito_does_not_load_the_worker_loop() -> None:
    code = (
        "import sys, taskito\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('taskito.worker.'))\n"
        "assert 'taskito.worker.worker' not in loaded, loaded\n"
        "from taskito.worker import Worker, WorkerSettings\n"
        "assert Worker.__module__ == 'taskito.worker.worker'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
