#!/usr/bin/env python3
"""Writes openexchange.json, the Grafana dashboard of an OpenExchange cluster, from the panel
list below (run it after changing a panel: python3 deploy/grafana/generate.py). Every metric
named here must be one the roles export: Tests/clients/test_up.py checks it against a real
Prometheus scrape."""

import json
import os

JOB = 'job="openexchange"'
PANELS = [
    ("Gateway requests/s by route", f'sum by (http_route) (rate(hb_requests_total{{{JOB}, component="gateway"}}[1m]))', "reqps"),
    ("Gateway latency p50 / p95 / p99", [
        f'histogram_quantile({q}, sum by (le) (rate(http_server_request_duration_bucket{{{JOB}, component="gateway"}}[5m])))'
        for q in ("0.5", "0.95", "0.99")], "s"),
    ("Gateway error rate", f'sum(rate(hb_request_errors_total{{{JOB}, component="gateway"}}[5m])) / sum(rate(hb_requests_total{{{JOB}, component="gateway"}}[5m]))',
     "percentunit"),
    ("Orders and cancels appended/s", f'sum(rate(exchange_gateway_commands_appended_total{{{JOB}}}[1m]))', "ops"),
    ("Matching: input entries applied/s per shard", f'max by (shard) (rate(exchange_replica_applied_entries_total{{{JOB}, component="matcher"}}[1m]))', "ops"),
    ("Clearing: input entries applied/s per partition",
     f'max by (partition) (rate(exchange_replica_applied_entries_total{{{JOB}, component="clearing"}}[1m]))', "ops"),
    ("Apply time p99 per step", f'histogram_quantile(0.99, sum by (le, instance_name) (rate(exchange_replica_apply_seconds_bucket{{{JOB}}}[5m])))', "s"),
    ("Append round trip p99 per step (primaries)",
     f'histogram_quantile(0.99, sum by (le, instance_name) (rate(exchange_replica_append_seconds_bucket{{{JOB}}}[5m])))', "s"),
    ("Lag per log (entries not applied)", [
        f'max by (instance_name) (exchange_replica_lag_entries{{{JOB}}})', f'max by (stream) (exchange_recorder_lag_entries{{{JOB}}})'], "short"),
    ("Gateway submit queue depth", f'max(exchange_gateway_submit_queue_depth{{{JOB}}})', "short"),
    ("Snapshot age", f'max by (instance_name) (exchange_replica_snapshot_age_seconds{{{JOB}}})', "s"),
    ("Failovers (promotions) in the last hour", f'sum by (shard, partition) (increase(exchange_replica_promotions_total{{{JOB}}}[1h]))', "short"),
    ("Primary per shard and partition", f'sum by (shard, partition) (exchange_replica_role{{{JOB}, role="primary"}})', "short"),
    ("Market data: stream connections and frames/s", [
        f'sum(exchange_marketdata_connections{{{JOB}}})', f'sum(rate(exchange_marketdata_frames_sent_total{{{JOB}}}[1m]))'], "short"),
    ("Market data: slow clients dropped", f'sum(increase(exchange_marketdata_slow_clients_dropped_total{{{JOB}}}[1h]))', "short"),
    ("Recorder rows written/s", f'sum(rate(exchange_recorder_rows_total{{{JOB}}}[1m]))', "ops"),
]


def panel(index, title, expressions, unit):
    expressions = expressions if isinstance(expressions, list) else [expressions]
    source = {"type": "prometheus", "uid": "${datasource}"}
    return {
        "id": index + 1, "type": "timeseries", "title": title, "datasource": source,
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + j), "expr": e, "datasource": source} for j, e in enumerate(expressions)],
    }


dashboard = {
    "title": "OpenExchange", "uid": "openexchange", "schemaVersion": 39, "version": 1, "editable": True,
    "time": {"from": "now-1h", "to": "now"}, "refresh": "10s", "tags": ["openexchange"],
    "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]},
    "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "openexchange.json"), "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
