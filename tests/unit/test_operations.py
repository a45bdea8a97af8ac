"""Operations, checked on template.yaml and the code: every dead-letter queue alarmed, every alarm acting,
the dashboard and the alarms naming only metrics the code emits, and metrics without per-customer dimensions.

Generic over the template: a queue another issue adds (with its DLQ) is held to the same rules unchanged.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.local_stack.template import load_yaml
from xero_bridge.observability import DIMENSIONS, count, metrics

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
NAMESPACE = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
SERVICE = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
#: Names that would make one series per customer (or per record): never a metric dimension.
PER_CUSTOMER = re.compile(r"org|tenant|payment_id|record_id|xero_id|contact|invoice_id|run_id", re.IGNORECASE)


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in RESOURCES.items() if body["Type"] == kind}


def _referenced(value: Any) -> Iterator[str]:
    """Logical ids a value points at (``!Ref X``, ``!GetAtt X.Attr``, ``${X}``/``${X.Attr}`` in ``!Sub``)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                yield (inner.split(".")[0] if isinstance(inner, str) else inner[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                yield from (m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
            else:
                yield from _referenced(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _referenced(inner)


def dead_letter_queues() -> set[str]:
    """Every queue some queue's RedrivePolicy sends its failures to, plus any queue named as a DLQ."""
    found: set[str] = set()
    for name, queue in _of_type("AWS::SQS::Queue").items():
        redrive = (queue.get("Properties") or {}).get("RedrivePolicy") or {}
        found.update(_referenced(redrive.get("deadLetterTargetArn")))
        if "deadletter" in name.lower() or str((queue.get("Properties") or {}).get("QueueName", "")).endswith(
            "dlq"
        ):
            found.add(name)
    return found


def _alarm_metrics(alarm: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each metric an alarm reads: ``{"Namespace", "MetricName", "Dimensions"}`` (plain or metric math)."""
    props = alarm["Properties"]
    if "MetricName" in props:
        yield {k: props.get(k) for k in ("Namespace", "MetricName", "Dimensions")}
    for query in props.get("Metrics") or []:
        if "MetricStat" in query:
            yield query["MetricStat"]["Metric"]


def emitted_metrics() -> set[str]:
    """Every metric name the code publishes: ``add_metric(name="X")``, ``count("X")``, ``single_metric``,
    and names listed in a tuple a loop then publishes (``for name, value in (("X", ...), ...)``)."""
    names: set[str] = set()
    sources = [*(ROOT / "functions").glob("*/app.py"), *(ROOT / "layers/shared/xero_bridge").rglob("*.py")]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called not in {"add_metric", "count", "single_metric"}:
                continue
            for keyword in node.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    names.add(str(keyword.value.value))
            if called == "count" and node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
        for node in ast.walk(ast.parse(path.read_text())):  # ("PaymentsExported", report.exported) tuples
            if isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple):
                calls = [c for c in ast.walk(node) if isinstance(c, ast.Call)]
                publishes = any(getattr(c.func, "attr", None) == "add_metric" for c in calls)
                for item in node.iter.elts if publishes else []:
                    if isinstance(item, ast.Tuple) and isinstance(item.elts[0], ast.Constant):
                        names.add(str(item.elts[0].value))
    return names


def dashboard() -> dict[str, Any]:
    (board,) = _of_type("AWS::CloudWatch::Dashboard").values()
    body = board["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    return dict(json.loads(re.sub(r"\$\{[^}]+\}", "placeholder", text)))


def dashboard_metrics() -> set[tuple[str, str]]:
    """(namespace, metric) pairs the dashboard shows: plain metric arrays and SEARCH expressions."""
    found: set[tuple[str, str]] = set()
    for widget in dashboard()["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], str):
                found.add((line[0], line[1]))
            for item in line:
                expression = item.get("expression", "") if isinstance(item, dict) else ""
                for schema, metric in re.findall(r"\{([^,}]+)[^}]*\}\s+MetricName=\"([^\"]+)\"", expression):
                    found.add((schema, metric))
    return found


# --- the template ---------------------------------------------------------------------------------------


def test_the_template_has_dead_letter_queues_and_alarms() -> None:
    assert len(dead_letter_queues()) >= 5 and len(_of_type("AWS::CloudWatch::Alarm")) >= 10


def test_every_dead_letter_queue_has_an_alarm_on_its_depth() -> None:
    alarmed = {
        queue
        for alarm in _of_type("AWS::CloudWatch::Alarm").values()
        for metric in _alarm_metrics(alarm)
        if metric["Namespace"] == "AWS/SQS" and metric["MetricName"] == "ApproximateNumberOfMessagesVisible"
        for queue in _referenced(metric["Dimensions"])
    }
    assert sorted(dead_letter_queues() - alarmed) == []


def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_clears() -> None:
    topics = set(_of_type("AWS::SNS::Topic"))
    for name, alarm in _of_type("AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        assert set(_referenced(props.get("AlarmActions"))) & topics, f"{name} has no alarm action"
        assert set(_referenced(props.get("OKActions"))) & topics, f"{name} has no OK action"


def test_the_alarm_email_subscribes_to_the_topic() -> None:
    (subscription,) = _of_type("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert subscription["Properties"]["Protocol"] == "email"
    assert "AlarmEmail" in TEMPLATE["Parameters"]


def test_every_alarm_on_our_namespace_reads_a_metric_the_code_emits() -> None:
    emitted = emitted_metrics()
    for name, alarm in _of_type("AWS::CloudWatch::Alarm").items():
        for metric in _alarm_metrics(alarm):
            if metric["Namespace"] != NAMESPACE:
                continue
            assert metric["MetricName"] in emitted, (
                f"{name} reads {metric['MetricName']}, which nothing emits"
            )
            dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            assert dimensions.get("service") == SERVICE, f"{name}: Powertools adds service={SERVICE}"
            assert set(dimensions) - {"service"} <= set(DIMENSIONS), name


def test_the_dashboard_names_only_metrics_the_code_emits() -> None:
    shown = dashboard_metrics()
    ours = {metric for namespace, metric in shown if namespace == NAMESPACE}
    assert len(ours) > 20
    assert sorted(ours - emitted_metrics()) == []
    assert {namespace for namespace, _ in shown} <= {NAMESPACE, "AWS/SQS"}


def test_the_dashboard_shows_every_dead_letter_queue_and_every_alarm() -> None:
    (board,) = _of_type("AWS::CloudWatch::Dashboard").values()
    referenced = set(_referenced(board["Properties"]["DashboardBody"]))
    assert dead_letter_queues() <= referenced
    assert set(_of_type("AWS::CloudWatch::Alarm")) <= referenced


def test_the_flows_the_issue_names_are_on_the_dashboard() -> None:
    ours = {metric for namespace, metric in dashboard_metrics() if namespace == NAMESPACE}
    assert {
        "RecordsSynced",
        "WebhookAckTime",
        "WebhookChangeLag",
        "WebhookSequenceGaps",
        "WebhookMissedChanges",
        "CatchUpRuns",
        "CatchUpCalls",
        "PaymentExports",
        "PaymentExportErrors",
        "XeroRateLimited",
        "TokenRefreshes",
        "NeedsReconnect",
    } <= ours


# --- the code's metrics -----------------------------------------------------------------------------------


def test_no_metric_dimension_names_a_customer() -> None:
    assert [name for name in DIMENSIONS if PER_CUSTOMER.search(name)] == []


def test_the_code_adds_no_dimension_of_its_own_outside_count() -> None:
    offenders = []
    for path in [*(ROOT / "functions").glob("*/app.py"), *(ROOT / "layers/shared/xero_bridge").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            adds = getattr(node.func, "attr", None) if isinstance(node, ast.Call) else None
            if adds in {"add_dimension", "set_default_dimensions"} and path.name != "observability.py":
                offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    assert offenders == []


def test_count_refuses_a_tenant_as_a_dimension() -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        count("RecordsSynced", 1, tenant_id="b5c7e2a0-0000-0000-0000-000000000000")


def test_count_writes_its_dimensions_in_one_emf_line(capsys: pytest.CaptureFixture[str]) -> None:
    # When the writer counts invoices synced by webhook
    count("RecordsSynced", 3, record_type="invoice", source="webhook")

    # Then one EMF document carries the metric with service, record_type and source only
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if "_aws" in text]
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert [m["Name"] for m in directive["Metrics"]] == ["RecordsSynced"]
    assert sorted(directive["Dimensions"][0]) == ["record_type", "service", "source"]
    assert (line["RecordsSynced"], line["record_type"], line["source"]) == ([3.0], "invoice", "webhook")


def test_count_without_dimensions_joins_the_invocation_metric_set() -> None:
    metrics.clear_metrics()
    count("WebhookDeliveries")
    assert "WebhookDeliveries" in metrics.metric_set
    metrics.clear_metrics()


def test_every_function_keeps_lambdas_active_tracing() -> None:
    assert TEMPLATE["Globals"]["Function"]["Tracing"] == "Active"
    functions = _of_type("AWS::Serverless::Function")
    assert functions
    assert {name: f["Properties"].get("Tracing", "Active") for name, f in functions.items()} == dict.fromkeys(
        functions, "Active"
    )
