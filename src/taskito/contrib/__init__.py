"""Integrations with other software: web frameworks (``flask``, ``django``, ``fastapi``) and
observability tools. Each needs its extra (``pip install 'taskito[flask]'``...) and is imported
by its own module path; importing this package imports none of them."""
