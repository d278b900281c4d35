"""Fault injection for crash-safety tests: ``CONFIG_MANAGER_FAULT=<step>`` kills the operator at that step.

The rotation engine (and the VaultDynamicSecret reconciler) calls ``crash_point(step)`` between its writes (intent, store, Secret, restarts,
status). With the variable unset (always, outside tests) it does nothing. With it set to the step's name,
the process sends itself SIGKILL there, exactly as an OOM kill or a node loss would end it: no cleanup,
no flush. Tests restart the operator without the variable and check that it converges.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

STEPS = ("after-intent", "after-store-write", "after-secret-write", "after-restart", "after-status",
         # VaultDynamicSecret (reconcile/vaultdynamicsecret.py): credentials issued and their lease recorded
         # in status, target Secret not yet written; and the Secret written, status not yet committed
         "after-lease-recorded", "after-lease-secret-write")
ENV = "CONFIG_MANAGER_FAULT"


def crash_point(step: str) -> None:
    """SIGKILL this process if the fault variable names ``step``."""
    if os.environ.get(ENV) == step:
        log.warning("fault injection: killing the operator at %s", step)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
