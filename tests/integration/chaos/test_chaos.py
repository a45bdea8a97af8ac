"""The bounded chaos run of ``make test``: every flow at once on the local stack, a small organisation, a
fixed seed, random faults of every kind and killed invocations -- then nothing lost, nothing doubled.

``make chaos`` runs the same story bigger and with several seeds (``tools/chaos.py`` says what it does).
"""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = pytest.mark.integration

if importlib.util.find_spec("tools.local_stack") is None:
    pytest.skip("needs tools/local_stack", allow_module_level=True)

from tools.chaos import OPEN_STUCK_DELIVERY, STUCK_DELIVERY_SOURCE, ChaosConfig, chaos_app  # noqa: E402

SEED = 11


def test_every_flow_under_faults_and_kills_ends_with_dynamodb_equal_to_xero() -> None:
    # Given two small organisations, one fault a quarter second and a kill chance on every AWS write
    config = ChaosConfig(
        seed=SEED, orgs=2, contacts=8, invoices=16, payments=5, fault_every=0.25, settle_seconds=150.0
    )

    # When they connect, sync, change in Xero, export, replay, disconnect and reconnect under chaos
    with chaos_app(config) as chaos:
        report = chaos.run()

    # Then the chaos happened ...
    print("\n".join(report.lines()))
    assert report.faults_fired > 10 and len(report.faults) >= 6
    assert sum(report.kills.values()) > 0
    # ... and nothing was lost or doubled: DynamoDB equals Xero, each exported payment is in Xero once.
    # One problem is known and open (README, "Chaos"): a webhook delivery left invisible in its queue past
    # the settling time; it is tolerated alone, never with any other problem.
    stuck = [
        p
        for p in report.problems
        if p.startswith(OPEN_STUCK_DELIVERY) and STUCK_DELIVERY_SOURCE in p and p.endswith(", 0)})")
    ]
    assert [p for p in report.problems if p not in stuck] == []
    assert report.records_verified > 0 and report.record_differences == {}
    assert report.duplicated == report.lost == 0
    assert report.payments_in_xero > 0
    assert report.syncs == {"finished": 2}
