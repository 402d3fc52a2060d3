"""The chart's alert rules under Prometheus's own checker: ``promtool check rules`` on the rendered
PrometheusRule, and ``promtool test rules`` (alert_rules_test.yaml) showing that an orphaned spool
claim is reported with its last depth after its pod's series is gone, and Kafka unreachability after
2 minutes. promtool is not on PyPI: it is taken from PATH or BYOSMS_PROMTOOL (Debian's prometheus
package has it: ``apt-get download prometheus && dpkg -x prometheus_*.deb x``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
CHART = HERE.parents[1] / "deploy" / "helm" / "byosms"
PROMTOOL = os.environ.get("BYOSMS_PROMTOOL") or shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (see the module docstring)")
def test_alert_rules_pass_promtool(render_chart: Any, tmp_path: Path) -> None:
    assert PROMTOOL is not None
    docs = render_chart(CHART / "ci" / "production-values.yaml").documents
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(HERE / "alert_rules_test.yaml", tmp_path / "test.yaml")
    checked = subprocess.run([PROMTOOL, "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([PROMTOOL, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
