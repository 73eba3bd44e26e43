"""A small Django app of the tests: one model, tasks autodiscovered from ``tasks.py``."""
