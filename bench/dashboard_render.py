"""Draw the Grafana dashboard's panels from scraped Prometheus text, with matplotlib (no Grafana here).

The panels and their PromQL come from ``charts/config-manager/dashboards/config-manager.json`` itself;
this module evaluates the small subset of PromQL the dashboard uses over a list of scrapes
(``(unix time, exposition text)``):

- ``rate(m[..])`` (per series, over ``window`` seconds of scrapes instead of the dashboard's 5m),
- ``sum(...)`` / ``sum by (labels) (...)``, ``histogram_quantile(q, sum by (le, ...) (rate(m_bucket[..])))``,
- ``bottomk(k, (m - time()) / 86400)``, and a bare metric name.

An expression outside that subset raises ``ValueError`` naming it, so the dashboard and its picture
cannot drift apart silently.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "charts" / "config-manager" / "dashboards" / "config-manager.json"

Labels = tuple[tuple[str, str], ...]
Series = dict[Labels, list[tuple[float, float]]]  # labels -> [(t, value)]
Scrape = tuple[float, str]


def parse_scrapes(scrapes: Sequence[Scrape]) -> dict[str, Series]:
    """Sample name -> labels -> points over time."""
    out: dict[str, Series] = defaultdict(lambda: defaultdict(list))
    for t, text in scrapes:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[sample.name][tuple(sorted(sample.labels.items()))].append((t, float(sample.value)))
    return out


def _rate(points: list[tuple[float, float]], window: float) -> list[tuple[float, float]]:
    rated = []
    start = 0
    for t, v in points:
        while points[start][0] < t - window:
            start += 1
        t0, v0 = points[start]
        if t > t0:
            rated.append((t, max(0.0, v - v0) / (t - t0)))
    return rated


def _group(series: Series, by: list[str] | None) -> Series:
    """sum (by labels) over series, aligned on scrape times."""
    summed: dict[Labels, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for labels, points in series.items():
        key = tuple((k, v) for k, v in labels if by is not None and k in by)
        for t, v in points:
            summed[key][t] += v
    return {k: sorted(p.items()) for k, p in summed.items()}


def _quantile(q: float, buckets: Series) -> Series:
    by_rest: dict[Labels, dict[float, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for labels, points in buckets.items():
        le = dict(labels)["le"]
        rest = tuple((k, v) for k, v in labels if k != "le")
        for t, v in points:
            by_rest[rest][t].append((math.inf if le == "+Inf" else float(le), v))
    out: Series = {}
    for rest, at in by_rest.items():
        points = []
        for t, pairs in sorted(at.items()):
            pairs.sort()
            total = pairs[-1][1]
            if total <= 0:
                continue
            rank, prev_le, prev_count = q * total, 0.0, 0.0
            for le, count in pairs:
                if count >= rank:
                    if math.isinf(le):
                        points.append((t, prev_le))
                    else:
                        share = (rank - prev_count) / (count - prev_count) if count > prev_count else 1.0
                        points.append((t, prev_le + (le - prev_le) * share))
                    break
                prev_le, prev_count = le, count
        out[rest] = points
    return out


_SUM = re.compile(r"^sum(?: by \(([^)]*)\))? ?\((.*)\)$")
_RATE = re.compile(r"^rate\(([a-z_:]+)\[[0-9]+[smh]\]\)$")
_QUANTILE = re.compile(r"^histogram_quantile\(([0-9.]+), (.*)\)$")
_BOTTOMK = re.compile(r"^bottomk\(([0-9]+), \(([a-z_:]+) - time\(\)\) / 86400\)$")
_NAME = re.compile(r"^[a-z_:]+$")


def evaluate(expr: str, data: dict[str, Series], window: float) -> Series:
    """The dashboard subset of PromQL over scraped data."""
    expr = expr.strip()
    if m := _QUANTILE.match(expr):
        return _quantile(float(m.group(1)), evaluate(m.group(2), data, window))
    if m := _SUM.match(expr):
        by = [part.strip() for part in m.group(1).split(",")] if m.group(1) else None
        return _group(evaluate(m.group(2), data, window), by)
    if m := _RATE.match(expr):
        return {labels: _rate(points, window) for labels, points in data.get(m.group(1), {}).items()}
    if m := _BOTTOMK.match(expr):
        series = data.get(m.group(2), {})
        days = {labels: [(t, (v - t) / 86400) for t, v in points] for labels, points in series.items()}
        soonest = sorted(days.items(), key=lambda item: item[1][-1][1] if item[1] else math.inf)[: int(m.group(1))]
        return dict(soonest)
    if _NAME.match(expr):
        return dict(data.get(expr, {}))
    raise ValueError(f"dashboard expression outside the rendered PromQL subset: {expr}")


def _legend(template: str, labels: Labels) -> str:
    values = dict(labels)
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), ""), template).strip() or "value"


def render(scrapes: Sequence[Scrape], out: Path, *, window: float = 30.0, dashboard: Path = DASHBOARD) -> list[str]:
    """Draw every panel of the dashboard into one PNG; returns the panel titles drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    board: dict[str, Any] = json.loads(dashboard.read_text())
    panels = board["panels"]
    data = parse_scrapes(scrapes)
    t0 = scrapes[0][0]
    rows = math.ceil(len(panels) / 2)
    fig, axes = plt.subplots(rows, 2, figsize=(15, 3.0 * rows), squeeze=False)
    fig.patch.set_facecolor("#111217")
    titles = []
    for index, panel in enumerate(panels):
        ax = axes[index // 2][index % 2]
        ax.set_facecolor("#181b1f")
        for spine in ax.spines.values():
            spine.set_color("#444")
        ax.tick_params(colors="#ccc", labelsize=7)
        ax.set_title(panel["title"], color="#eee", fontsize=9, loc="left")
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        for target in panel["targets"]:
            for labels, points in sorted(evaluate(target["expr"], data, window).items()):
                if not points:
                    continue
                xs = [(t - t0) / 60 for t, _ in points]
                ax.plot(xs, [v for _, v in points], linewidth=1.2, label=_legend(target.get("legendFormat", ""), labels))
        ax.set_xlabel("minutes into the run", color="#999", fontsize=7)
        ax.set_ylabel(unit, color="#999", fontsize=7)
        ax.grid(color="#2a2d33", linewidth=0.5)
        handles, labels_ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles[:8], labels_[:8], fontsize=6, loc="upper left", facecolor="#181b1f", labelcolor="#ccc",
                      edgecolor="#333")
        titles.append(panel["title"])
    for index in range(len(panels), rows * 2):
        axes[index // 2][index % 2].set_visible(False)
    fig.suptitle(f"{board['title']} — panels of the Grafana dashboard, drawn from /metrics of a real run "
                 f"(matplotlib; rates over {window:.0f} s)", color="#eee", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor=fig.get_facecolor())
    plt.close(fig)
    return titles
