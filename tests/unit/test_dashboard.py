"""The shipped Grafana dashboard: valid JSON over documented metrics, every panel's PromQL inside the
subset bench/dashboard_render.py evaluates (so the PNG in docs/ draws the same panels), and that
evaluation right on a small synthetic run."""

from __future__ import annotations

import json

from bench.dashboard_render import DASHBOARD, evaluate, parse_scrapes


def scrape(syncs: float, queue: float, expiry: float, bucket: tuple[float, float, float]) -> str:
    return f"""# TYPE configmanager_syncs_total counter
configmanager_syncs_total{{kind="ManagedSecret",result="success"}} {syncs}
# TYPE configmanager_workqueue_depth gauge
configmanager_workqueue_depth {queue}
# TYPE configmanager_secret_expiry_timestamp_seconds gauge
configmanager_secret_expiry_timestamp_seconds{{kind="ManagedSecret",name="tls",namespace="a"}} {expiry}
# TYPE configmanager_provider_request_duration_seconds histogram
configmanager_provider_request_duration_seconds_bucket{{le="0.01",operation="get",provider="azure"}} {bucket[0]}
configmanager_provider_request_duration_seconds_bucket{{le="0.1",operation="get",provider="azure"}} {bucket[1]}
configmanager_provider_request_duration_seconds_bucket{{le="+Inf",operation="get",provider="azure"}} {bucket[2]}
configmanager_provider_request_duration_seconds_count{{operation="get",provider="azure"}} {bucket[2]}
configmanager_provider_request_duration_seconds_sum{{operation="get",provider="azure"}} 1.0
"""


def test_every_panel_evaluates_and_uses_documented_metrics() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "config-manager" and board["templating"]["list"][0]["type"] == "datasource"
    data = parse_scrapes([(1000.0, scrape(0, 1, 1000.0 + 86400 * 3, (0, 0, 0))),
                          (1010.0, scrape(20, 4, 1000.0 + 86400 * 3, (10, 20, 20)))])
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            evaluate(target["expr"], data, window=30.0)  # raises outside the subset


def test_evaluation_of_rate_quantile_gauge_and_expiry() -> None:
    data = parse_scrapes([(1000.0, scrape(0, 1, 1000.0 + 86400 * 3, (0, 0, 0))),
                          (1010.0, scrape(20, 4, 1000.0 + 86400 * 3, (10, 20, 20)))])
    rate = evaluate("sum by (kind, result) (rate(configmanager_syncs_total[5m]))", data, 30.0)
    assert rate == {(("kind", "ManagedSecret"), ("result", "success")): [(1010.0, 2.0)]}
    p95 = evaluate("histogram_quantile(0.95, sum by (le, provider, operation) "
                   "(rate(configmanager_provider_request_duration_seconds_bucket[5m])))", data, 30.0)
    (points,) = p95.values()
    assert abs(points[0][1] - 0.091) < 1e-9  # 95th of 20: the 19th observation, 9/10 into the 0.01..0.1 bucket
    assert evaluate("sum(configmanager_workqueue_depth)", data, 30.0) == {(): [(1000.0, 1.0), (1010.0, 4.0)]}
    days = evaluate("bottomk(20, (configmanager_secret_expiry_timestamp_seconds - time()) / 86400)", data, 30.0)
    (series,) = days.values()
    assert series[0] == (1000.0, 3.0)
