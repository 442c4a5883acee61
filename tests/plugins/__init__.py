"""The tests' pytest plugins, one per concern; tests/conftest.py loads them (pytest_plugins)."""
