"""The template's DynamoDB tables on moto, exactly as template.yaml declares them (one source of truth)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


class _IgnoreTags(yaml.SafeLoader):
    """Reads template.yaml, turning CloudFormation's short-form tags into plain values."""


_IgnoreTags.add_multi_constructor("!", lambda loader, suffix, node: None)


@cache
def _resources() -> dict[str, Any]:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_IgnoreTags)
    return dict(template["Resources"])


def template_table(logical_id: str) -> dict[str, Any]:
    """The table's key schema, attributes, billing mode and indexes as template.yaml declares them."""
    props = _resources()[logical_id]["Properties"]
    table = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
    }
    if "GlobalSecondaryIndexes" in props:
        table["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return table


def create_template_table(client: Any, logical_id: str, name: str) -> str:
    """Create ``logical_id`` of template.yaml as table ``name`` with ``client``; returns the name."""
    client.create_table(TableName=name, **template_table(logical_id))
    return name
