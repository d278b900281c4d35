"""What every test server run as a subprocess shares (Vault, our Key Vault server, Lowkey Vault).

Its log tail for failure messages, freezing (SIGSTOP: connections are accepted, nothing is answered, as a
hung server behaves) and thawing, and a stop that thaws, terminates (then kills), waits, and removes the
server's folder. Subclasses are dataclasses that declare ``process``, ``folder`` and ``log_file``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

STOP_TIMEOUT = 15.0


class ServerProcess:
    """Mixin over the three attributes below."""

    process: subprocess.Popen[bytes]
    folder: Path
    log_file: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def freeze(self) -> None:
        """Stop the process from answering (SIGSTOP)."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server (idempotent) and remove its folder."""
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGCONT)
                self.process.terminate()
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        shutil.rmtree(self.folder, ignore_errors=True)
