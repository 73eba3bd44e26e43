"""taskito: a task queue for Python."""
