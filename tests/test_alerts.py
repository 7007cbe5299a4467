"""The alerting rules (`deploy/prometheus/alerts.yaml`), checked offline: each expression is
PromQL (promql-parser, a locked dev dependency: without it this module fails, never skips),
names only metrics our processes export, with their labels or the target labels the scrape job
gives, and each alert says how urgent it is and where its runbook is."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

from orderflow.runtime.services import installed_services
from orderflow.runtime.spec import resolve

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
#: The labels deploy/prometheus/scrape.yaml gives every target, on every series.
TARGET_LABELS = {"job", "instance", "service"}
SEVERITIES = {"page", "ticket"}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def exported() -> dict[str, set[str]]:
    """Every series name a process of ours may export, with its labels."""
    for name in installed_services():
        resolve(name)  # loads the service and the metrics it registers
    series: dict[str, set[str]] = {"up": set()}  # Prometheus's own, per target
    for family in REGISTRY.collect():
        if not family.name.startswith("orderflow_"):
            continue
        labels = label_names(family.name)
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        for suffix in suffixes.get(family.type, [""]):
            series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def label_names(family: str) -> set[str]:
    """A metric's label names. A labelled metric nothing has used yet has no samples to read
    them from, and prometheus-client has no public call for them: read its collector's."""
    collector = REGISTRY._names_to_collectors[family]
    return set(getattr(collector, "_labelnames", ()))


def nodes(node: Any) -> Iterator[Any]:
    """A parsed expression and every expression inside it."""
    yield node
    children = [getattr(node, name, None) for name in ("lhs", "rhs", "expr", "param")]
    for child in [*children, *(getattr(node, "args", None) or [])]:
        if child is not None:
            yield from nodes(child)
    selector = getattr(node, "vector_selector", None)  # a range's: `x[5m]`
    if selector is not None:
        yield selector


def selectors(parsed: Any) -> Iterator[tuple[str, set[str]]]:
    """(metric name, labels matched) of every vector selector in a parsed expression."""
    for node in nodes(parsed):
        if isinstance(node, promql_parser.VectorSelector):
            yield node.name, {matcher.name for matcher in node.matchers.matchers}


def grouping(parsed: Any) -> Iterator[str]:
    """Every label an aggregation groups by, or a binary operation matches on."""
    for node in nodes(parsed):
        modifier = getattr(node, "modifier", None)
        if isinstance(modifier, promql_parser.AggModifier):
            yield from modifier.labels
        if isinstance(modifier, promql_parser.BinModifier) and modifier.matching is not None:
            yield from modifier.matching.labels


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown document."""
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    }


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_each_alert_is_valid_promql_over_what_our_processes_export(rule: dict[str, Any]) -> None:
    series = exported()
    parsed = promql_parser.parse(rule["expr"])
    used = list(selectors(parsed))
    assert used, "an alert that reads no metric"
    for name, matched in used:
        assert name in series, f"{name} is not exported; exported: {sorted(series)}"
        assert matched <= series[name] | TARGET_LABELS, f"{name} has no {matched - series[name]}"
    available = set().union(*(series[name] for name, _ in used)) | TARGET_LABELS
    assert set(grouping(parsed)) <= available


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_each_alert_has_a_severity_a_summary_and_a_runbook_section(rule: dict[str, Any]) -> None:
    assert rule["alert"].startswith("Orderflow")
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["annotations"]["summary"]
    document, _, anchor = rule["annotations"]["runbook_url"].partition("#")
    assert (ROOT / document) == DEPLOY_DOC
    assert anchor in anchors(DEPLOY_DOC.read_text())


def test_the_checks_reject_a_metric_we_do_not_export_and_a_label_it_lacks() -> None:
    series = exported()
    [(name, _)] = selectors(promql_parser.parse("rate(orderflow_orders_lost_total[5m]) > 0"))
    assert name not in series
    [(name, matched)] = selectors(promql_parser.parse('orderflow_relay_lag{topic="x"} > 0'))
    assert not matched <= series[name] | TARGET_LABELS
    with pytest.raises(ValueError, match="unclosed"):
        promql_parser.parse("sum(rate(orderflow_events_consumed_total[5m])")


def test_the_scrape_job_gives_the_labels_the_alerts_use() -> None:
    [job] = yaml.safe_load((PROMETHEUS / "scrape.yaml").read_text())
    assert job["job_name"] == "orderflow"
    given = {step["target_label"] for step in job["relabel_configs"] if "target_label" in step}
    assert TARGET_LABELS - {"job"} <= given
    for rule in rules():
        for _, matched in selectors(promql_parser.parse(rule["expr"])):
            assert "job" in matched, f"{rule['alert']}: every selector names job=orderflow"
