"""Tests of the Django integration against a real Django project configured in conftest."""
