"""Sample the operator with py-spy while it works, and reduce the samples to where the time goes.

py-spy attaches to the running process (no restart, no code change) and writes collapsed stacks of the
thread holding the GIL (``--gil``: where the interpreter burns CPU, not threads waiting on sockets); the
summary keeps the functions with the most samples on top of the stack ("self") and the operator's and
kopf's functions with the most samples anywhere in the stack ("inclusive").
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class ProfileRecorder:
    """``start()`` attaches py-spy to ``pid``; ``stop()`` detaches and returns the summary."""

    def __init__(self, pid: int, output: Path, rate: int = 50) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        tool = py_spy()
        if tool is None:
            return
        self.proc = subprocess.Popen(
            [tool, "record", "--pid", str(self.pid), "--format", "raw", "--output", str(self.output),
             "--rate", str(self.rate), "--nonblocking", "--gil"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def stop(self) -> dict[str, Any]:
        if self.proc is None:
            return {"error": "py-spy not installed"}
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        if not self.output.exists():
            return {"error": f"py-spy wrote nothing: {err.decode(errors='replace')[-300:]}"}
        return summarize(self.output)


def _frame(raw: str) -> str:
    """``func (path/to/module.py:12)`` -> ``module.py:func``."""
    name, _, where = raw.partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    short = "/".join(Path(file).parts[-2:]) if file else "?"
    return f"{short}:{name.strip()}"


def summarize(path: Path, top: int = 15) -> dict[str, Any]:
    """Top self and inclusive frames of a py-spy raw (collapsed) file."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";") if f]
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            if any(part in frame for part in ("k8s/", "kopf/", "providers/", "crypto/", "kubernetes/", "urllib3/", "json/", "aiohttp/")):
                inclusive[frame] += count
    share = (lambda c: round(100.0 * c / total, 1)) if total else (lambda c: 0.0)
    return {"samples": total, "file": path.name,
            "self_percent": {k: share(v) for k, v in own.most_common(top)},
            "inclusive_percent": {k: share(v) for k, v in inclusive.most_common(top)}}
