"""The operator's files in deploy/: Prometheus's alert rules pass promtool's checks and their
unit tests (each alert fires on the scenario it is for, and only then); the Grafana dashboard
is what its generator writes."""

import json
import os
import subprocess
import sys

from cluster import ROOT

PROMETHEUS = os.path.join(ROOT, "deploy", "prometheus")
GRAFANA = os.path.join(ROOT, "deploy", "grafana")


def test_alert_rules_are_valid_and_fire_on_their_scenarios():
    check = subprocess.run(["promtool", "check", "rules", "alerts.yml"], cwd=PROMETHEUS, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 13 rules found" in check.stdout + check.stderr
    tests = subprocess.run(["promtool", "test", "rules", "alerts.test.yml"], cwd=PROMETHEUS, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_dashboard_is_generated_from_its_panel_list(tmp_path):
    with open(os.path.join(GRAFANA, "openexchange.json")) as f:
        committed = f.read()
    script = open(os.path.join(GRAFANA, "generate.py")).read()
    copy = tmp_path / "generate.py"
    copy.write_text(script)
    subprocess.run([sys.executable, str(copy)], check=True)
    assert (tmp_path / "openexchange.json").read_text() == committed, "run python3 deploy/grafana/generate.py"
    dashboard = json.loads(committed)
    assert dashboard["uid"] == "openexchange" and len(dashboard["panels"]) == 16
