#!/usr/bin/env python3
"""Check deploy/monitoring/grafana-dashboard.json (Python 3 standard library only).

    python3 deploy/monitoring/check_grafana.py [DASHBOARD.json]

Checks that the file is an importable Grafana dashboard as this project
ships it: the DS_PROMETHEUS input, uid, title, refresh, time range and the
`job` template variable; every panel with an id (unique), type, title and a
gridPos inside 24 columns that overlaps no other panel; every non-row panel
with a description, the ${DS_PROMETHEUS} datasource and targets, each with
an expr and a refId. Every metric an expr names (tokens flashsale_[a-z_]+)
must be one the engine serves (METRICS below), and each must be selected
with job=~"$job". Prints every problem and exits 1 if there is any.
"""

import json
import os
import re
import sys

# The engine's Prometheus metrics (the exposition names, histogram series
# included). Add a name here when the engine starts serving it.
PIPELINE_COUNTERS = [
    "relayed",
    "reclaimed",
    "relay_failures",
    "stored",
    "duplicates",
    "redelivered",
    "batch_retries",
    "dead_lettered",
    "refused",
    "voided",
    "swept_settled",
    "swept_released",
]
METRICS = frozenset(
    [
        "flashsale_http_requests_total",
        "flashsale_purchases_total",
        "flashsale_purchase_duration_seconds",
        "flashsale_purchase_duration_seconds_bucket",
        "flashsale_purchase_duration_seconds_sum",
        "flashsale_purchase_duration_seconds_count",
        "flashsale_uptime_seconds",
        "flashsale_queue_depth",
        "flashsale_purchases_in_flight",
        "flashsale_sale_remaining_units",
        "flashsale_sale_ledger_difference",
        "flashsale_live_watchers",
        "flashsale_live_sales_watched",
        "flashsale_pipeline_unaccounted_reservations",
        "flashsale_pipeline_relay_lag_seconds",
        "flashsale_reserve_script_calls_total",
        "flashsale_reserve_requests_total",
        "flashsale_shop_webhook_deliveries_total",
    ]
    + ["flashsale_pipeline_%s_total" % name for name in PIPELINE_COUNTERS]
)

METRIC_TOKEN = re.compile(r"flashsale_[a-z_]+")
JOB_FILTER = 'job=~"$job"'
DATASOURCE_UID = "${DS_PROMETHEUS}"
GRID_COLUMNS = 24
PANEL_TYPES = {
    "row", "stat", "timeseries", "gauge", "bargauge", "table", "text",
    "heatmap", "piechart", "barchart", "state-timeline", "status-history",
    "logs", "histogram",
}
DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grafana-dashboard.json")


def main(argv):
    path = argv[1] if len(argv) > 1 else DEFAULT_PATH
    try:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        print("%s: cannot load the dashboard: %s" % (path, e), file=sys.stderr)
        return 1

    errors = []
    check_dashboard(dashboard, errors)
    panels = dashboard.get("panels") if isinstance(dashboard, dict) else None
    if not isinstance(panels, list) or not panels:
        errors.append("dashboard: `panels` must be a non-empty list")
        panels = []
    counts = {"panels": 0, "rows": 0, "targets": 0, "metrics": set()}
    check_panels(panels, errors, counts)

    if errors:
        print("%s: %d problem(s):" % (path, len(errors)), file=sys.stderr)
        for e in errors:
            print("  - " + e, file=sys.stderr)
        return 1
    print(
        "%s: OK: %d rows, %d panels, %d queries over %d metrics, all known and filtered on %s"
        % (path, counts["rows"], counts["panels"], counts["targets"], len(counts["metrics"]), JOB_FILTER)
    )
    return 0


def check_dashboard(d, errors):
    if not isinstance(d, dict):
        errors.append("the file's top level is not a JSON object")
        return
    expect = {
        "uid": "flashsale-engine",
        "title": "FlashSale engine",
        "schemaVersion": 39,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
    }
    for key, want in expect.items():
        if d.get(key) != want:
            errors.append("dashboard: %s is %r, want %r" % (key, d.get(key), want))
    inputs = d.get("__inputs") or []
    if not any(
        isinstance(i, dict) and i.get("name") == "DS_PROMETHEUS"
        and i.get("type") == "datasource" and i.get("pluginId") == "prometheus"
        for i in inputs
    ):
        errors.append("dashboard: __inputs has no DS_PROMETHEUS prometheus datasource input")

    variables = (d.get("templating") or {}).get("list") or []
    job = [v for v in variables if isinstance(v, dict) and v.get("name") == "job"]
    if not job:
        errors.append("templating: no `job` variable")
    else:
        v = job[0]
        query = v.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if query != "label_values(flashsale_uptime_seconds, job)":
            errors.append("templating: job's query is %r, want label_values(flashsale_uptime_seconds, job)" % (query,))
        if v.get("type") != "query" or v.get("multi") is not True or v.get("includeAll") is not True:
            errors.append("templating: job must be a query variable with multi and includeAll")
        if datasource_uid(v.get("datasource")) != DATASOURCE_UID:
            errors.append("templating: job's datasource is not %s" % DATASOURCE_UID)
        check_metric_names("templating: job", query or "", errors, set(), need_job=False)


def check_panels(panels, errors, counts):
    seen_ids = {}
    # Overlap is checked among the panels laid out together: the top level
    # (rows included) and, separately, the panels kept inside a collapsed row.
    layouts = [("top level", [])]
    for panel in panels:
        layouts[0][1].append(panel)
        if isinstance(panel, dict) and panel.get("type") == "row" and panel.get("collapsed"):
            layouts.append(("collapsed row %r" % panel.get("title"), panel.get("panels") or []))
        elif isinstance(panel, dict) and panel.get("type") == "row" and panel.get("panels"):
            errors.append("row %r: an expanded row must keep its panels at the top level" % panel.get("title"))

    for _, members in layouts:
        for panel in members:
            check_panel(panel, errors, counts, seen_ids)
    for where, members in layouts:
        check_overlaps(where, members, errors)


def check_panel(panel, errors, counts, seen_ids):
    if not isinstance(panel, dict):
        errors.append("a panel is not a JSON object: %r" % (panel,))
        return
    name = "panel %r (id %r)" % (panel.get("title"), panel.get("id"))
    for key in ("id", "type", "title", "gridPos"):
        if key not in panel or panel[key] in (None, ""):
            errors.append("%s: missing %s" % (name, key))
    pid = panel.get("id")
    if isinstance(pid, bool) or not isinstance(pid, int):
        errors.append("%s: id must be an integer" % name)
    elif pid in seen_ids:
        errors.append("%s: id %d already used by panel %r" % (name, pid, seen_ids[pid]))
    else:
        seen_ids[pid] = panel.get("title")
    ptype = panel.get("type")
    if ptype not in PANEL_TYPES:
        errors.append("%s: unknown panel type %r" % (name, ptype))
    check_grid_pos(name, panel.get("gridPos"), errors)

    if ptype == "row":
        counts["rows"] += 1
        return
    counts["panels"] += 1
    if not isinstance(panel.get("description"), str) or not panel["description"].strip():
        errors.append("%s: missing description" % name)
    if datasource_uid(panel.get("datasource")) != DATASOURCE_UID:
        errors.append("%s: datasource is %r, want uid %s" % (name, panel.get("datasource"), DATASOURCE_UID))
    targets = panel.get("targets")
    if not isinstance(targets, list) or not targets:
        errors.append("%s: no targets" % name)
        return
    ref_ids = set()
    for i, t in enumerate(targets):
        where = "%s target %d" % (name, i)
        if not isinstance(t, dict):
            errors.append("%s: not a JSON object" % where)
            continue
        ref = t.get("refId")
        if not isinstance(ref, str) or not ref:
            errors.append("%s: missing refId" % where)
        elif ref in ref_ids:
            errors.append("%s: refId %s used twice in the panel" % (where, ref))
        else:
            ref_ids.add(ref)
            where = "%s refId %s" % (name, ref)
        if "datasource" in t and datasource_uid(t["datasource"]) != DATASOURCE_UID:
            errors.append("%s: datasource is %r, want uid %s" % (where, t["datasource"], DATASOURCE_UID))
        expr = t.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            errors.append("%s: missing expr" % where)
            continue
        counts["targets"] += 1
        check_metric_names(where, expr, errors, counts["metrics"], need_job=True)


def check_metric_names(where, expr, errors, used, need_job):
    found = False
    for m in METRIC_TOKEN.finditer(expr):
        found = True
        metric = m.group(0)
        if metric not in METRICS:
            errors.append(
                "%s: unknown metric %s (not one the engine serves; known: see METRICS in %s)"
                % (where, metric, os.path.basename(__file__))
            )
            continue
        used.add(metric)
        if need_job:
            rest = expr[m.end():].lstrip()
            selector = rest[: rest.find("}") + 1] if rest.startswith("{") else ""
            if JOB_FILTER not in selector:
                errors.append("%s: %s is not selected with {%s}" % (where, metric, JOB_FILTER))
    if need_job and not found:
        errors.append("%s: the expr names no flashsale_ metric: %r" % (where, expr))


def check_grid_pos(name, g, errors):
    if not isinstance(g, dict):
        return  # reported as missing
    values = {}
    for key in ("x", "y", "w", "h"):
        v = g.get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            errors.append("%s: gridPos.%s must be an integer, is %r" % (name, key, v))
            return
        values[key] = v
    if values["x"] < 0 or values["y"] < 0 or values["w"] < 1 or values["h"] < 1:
        errors.append("%s: gridPos %r has a negative position or an empty size" % (name, g))
    if values["x"] + values["w"] > GRID_COLUMNS:
        errors.append("%s: gridPos x + w = %d exceeds %d columns" % (name, values["x"] + values["w"], GRID_COLUMNS))


def check_overlaps(where, panels, errors):
    boxes = []
    for p in panels:
        g = p.get("gridPos") if isinstance(p, dict) else None
        if isinstance(g, dict) and all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            boxes.append((p.get("title"), p.get("id"), g["x"], g["y"], g["w"], g["h"]))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a[2] < b[2] + b[4] and b[2] < a[2] + a[4] and a[3] < b[3] + b[5] and b[3] < a[3] + a[5]:
                errors.append(
                    "%s: panels %r (id %r) and %r (id %r) overlap" % (where, a[0], a[1], b[0], b[1])
                )


def datasource_uid(ds):
    if isinstance(ds, dict):
        return ds.get("uid")
    return ds


if __name__ == "__main__":
    sys.exit(main(sys.argv))
