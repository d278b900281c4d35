"""Integration fixtures for the operator tests: the operator subprocess and its helpers.

Kept here (not in tests/conftest.py, which the lead owns) so only tests that need the operator load it.
"""

from tests.helpers.operator_process import crds, kube, operator, running_operator  # noqa: F401
