"""Tests of the Flask extension with real Flask apps, test clients and CLI runners."""
