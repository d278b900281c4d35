"""Turn a run's results into the printed table and the PNG plots (matplotlib, optional)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def table(results: dict[str, Any]) -> str:
    """One line per figure: name, value, unit, target, verdict, 1-minute load average."""
    rows = [("figure", "value", "unit", "target", "met", "load1")]
    for f in results.get("figures", []):
        met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
        value = "-" if f["value"] is None else f"{f['value']:g}"
        rows.append((f["name"], value, f["unit"], f["target"], met, f"{f['load'][0]:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) if i in (0, 2, 3) else cell.rjust(widths[i]) for i, cell in enumerate(r)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    """burst.png (objects synced over time, raw baseline beside), latency.png (CDFs), memory.png."""
    import matplotlib  # noqa: PLC0415 - optional, only for plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    written: list[Path] = []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    raw = results.get("raw", {})
    if raw.get("curve"):
        ax.plot(raw["curve"], range(1, len(raw["curve"]) + 1), label=f"raw Secret creates ({raw['per_s']:.0f}/s)", color="black", linestyle="--")
    for burst in results.get("bursts", []):
        if burst.get("recorded"):
            ax.plot(burst["curve"], range(1, len(burst["curve"]) + 1),
                    label=f"N={burst['n']}: Ready + Secret ({burst['per_s']:.0f}/s, {burst['existing_before']} existing)")
    ax.set_xlabel("seconds since the first create")
    ax.set_ylabel("objects done")
    ax.set_title("Burst: ManagedSecrets synced vs raw Secret creates")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    written.append(_save(fig, out / "burst.png"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, lat in (results.get("latency") or {}).items():
        samples = sorted(lat["samples"])
        ax.plot(samples, [(i + 1) / len(samples) for i in range(len(samples))],
                label=f"{label}: p50 {lat['p50']:.2f}s p99 {lat['p99']:.2f}s (load {lat['load'][0]:.1f})")
    ax.axvline(1.0, color="grey", linestyle=":", label="target idle p99 (1 s)")
    ax.axvline(2.0, color="grey", linestyle="--", label="target wave p99 (2 s)")
    ax.set_xlabel("seconds from create to the Secret on an independent watch")
    ax.set_ylabel("fraction of probes")
    ax.set_title("Latency create -> Secret")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    written.append(_save(fig, out / "latency.png"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    rss = results.get("rss_mb", {})
    points = sorted((int(k), v) for k, v in rss.items() if k.isdigit())
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label="after each burst")
    restarted = [(int(k.split()[0]), v) for k, v in rss.items() if not k.isdigit()]
    if restarted:
        ax.scatter([p[0] for p in restarted], [p[1] for p in restarted], color="red", label="after restart", zorder=3)
    ax.axhline(150, color="grey", linestyle=":", label="goal at 10,000 (150 MB)")
    ax.set_xlabel("ManagedSecrets in the namespace")
    ax.set_ylabel("operator VmRSS (MB)")
    ax.set_title("Operator memory")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    written.append(_save(fig, out / "memory.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    plt.close(fig)
    return path
