"""The prefork pool: persistent child processes that run jobs, and the pipes between them.

``pool`` is the Pool contract (``PreforkPool``), ``supervision`` the table of children and
the jobs they hold, ``children`` the parent's handle on one child process, ``protocol`` the
messages and their framing, and ``child_main`` the child's own main loop (started as
``python -m taskito.prefork APP``). This package imports nothing on purpose: a child loads
only ``child_main`` and what it needs, not the parent's half.
"""
