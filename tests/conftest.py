"""Shared pytest configuration: fixtures for the real components are loaded as plugins.

- tests.helpers.cluster: ``cluster`` / ``namespace`` (local control plane, or --use-existing-cluster)
"""

pytest_plugins = ["tests.helpers.cluster"]
