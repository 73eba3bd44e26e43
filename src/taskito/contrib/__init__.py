"""Integrations with other software: web frameworks and observability tools. Each module
needs its own extra (``pip install 'taskito[<name>]'``) and says so when it is missing."""
