"""Reading a SAM template: short-form tags, parameters, conditions, Globals, intrinsics (no AWS needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.local_stack.model import LocalResource
from tools.local_stack.template import Template, TemplateError

from .conftest import TEMPLATE


def _template(tmp_path: Path, body: str, **overrides: Any) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(body)
    return Template(path, overrides)


def _lookup(resources: dict[str, LocalResource]) -> Any:
    return resources.get


def test_globals_merge_into_each_function() -> None:
    template = Template(TEMPLATE)
    echo = template.resources["EchoFunction"].properties
    slow = template.resources["SlowFunction"].properties

    assert echo["Runtime"] == "python3.13" and echo["Architectures"] == ["arm64"]
    assert echo["MemorySize"] == 512 and slow["Timeout"] == 1 and echo["Timeout"] == 5
    assert echo["Layers"] == [{"Ref": "SharedLayer"}]
    variables = echo["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "fixture" and variables["SETTING"] == "echo"
    assert variables["TABLE_NAME"] == {"Ref": "RecordsTable"}


def test_conditions_and_parameter_overrides() -> None:
    dev = Template(TEMPLATE)
    prod = Template(TEMPLATE, {"Stage": "prod"})

    assert "ProdOnlyQueue" not in dev.resources and "ProdOnlyQueue" in prod.resources
    assert dev.conditions == {"IsProd": False, "IsDev": True, "DevAndHello": True}
    with pytest.raises(TemplateError, match="AllowedValues"):
        Template(TEMPLATE, {"Stage": "qa"})
    with pytest.raises(TemplateError, match="undeclared"):
        Template(TEMPLATE, {"Nope": "x"})
    with pytest.raises(TemplateError) as error:
        Template(TEMPLATE, {"ApiToken": "x", "Stage": "bad"})
    assert "ApiToken" not in str(error.value)


def test_no_echo_values_are_known_for_masking() -> None:
    assert Template(TEMPLATE).no_echo_values() == ["fixture-no-echo-token-value"]


def test_intrinsics_resolve_against_local_resources(tmp_path: Path) -> None:
    template = _template(
        tmp_path,
        """
Parameters:
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
Conditions:
  Always: !Equals [1, 1]
Resources:
  Queue: {Type: AWS::SQS::Queue}
Outputs: {}
""",
    )
    queue = LocalResource("Queue", "AWS::SQS::Queue", "url", "arn:q", "https://q", {"QueueName": "q"})
    resolve = lambda value: template.resolve(value, _lookup({"Queue": queue}))  # noqa: E731

    assert (
        resolve({"Fn::Sub": "${Queue}|${Queue.QueueName}|${AWS::Region}|${!Keep}"})
        == "https://q|q|eu-west-1|${Keep}"
    )
    assert (
        resolve({"Fn::Sub": ["${X}-${AWS::AccountId}", {"X": {"Ref": "Queue"}}]}) == "https://q-123456789012"
    )
    assert resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "arn:q"
    assert resolve({"Fn::Select": [2, {"Ref": "Names"}]}) == "c"
    assert resolve({"Fn::Join": [":", {"Fn::Split": [",", "x,y"]}]}) == "x:y"
    assert resolve(
        {"A": {"Fn::If": ["Always", {"Ref": "AWS::NoValue"}, 1]}, "B": [1, {"Ref": "AWS::NoValue"}]}
    ) == {"B": [1]}
    assert resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    with pytest.raises(TemplateError, match="ImportValue"):
        resolve({"Fn::ImportValue": "Other-Stack-Output"})
    with pytest.raises(TemplateError, match="Nothing"):
        resolve({"Ref": "Nothing"})


def test_circular_references_are_refused(tmp_path: Path) -> None:
    template = _template(
        tmp_path,
        """
Resources:
  A: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt B.QueueName}}
  B: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub "${A.QueueName}"}}
""",
    )
    with pytest.raises(TemplateError, match="circular"):
        template.creation_order()
