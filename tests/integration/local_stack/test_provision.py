"""Every resource of the fixture template exists in moto with its properties, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.local_stack import LocalStack, TemplateError


def test_declared_vs_created_is_exact(stack: LocalStack) -> None:
    report = stack.declared_vs_created()

    assert report.exact, report.describe()
    assert set(report.not_needed) == {"SchedulerRole", "EchoPermission"}
    assert "IAM policies are not evaluated" in report.not_needed["SchedulerRole"]
    assert "ProdOnlyQueue" not in report.declared  # its Condition is false in dev
    assert "ServerlessRestApi" not in report.declared | report.created  # implicit, not declared


def test_dynamodb_table_with_indexes_ttl_streams_and_sse(stack: LocalStack) -> None:
    ddb = stack.client("dynamodb")
    name = stack.physical_id("RecordsTable")
    table = ddb.describe_table(TableName=name)["Table"]

    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["ByStatus"]
    assert [i["IndexName"] for i in table["LocalSecondaryIndexes"]] == ["ByPkStatus"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert stack.resources["RecordsTable"].get_att("StreamArn") == table["LatestStreamArn"]
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    simple = ddb.describe_table(TableName=stack.physical_id("TokensTable"))["Table"]
    assert simple["KeySchema"] == [{"AttributeName": "token_id", "KeyType": "HASH"}]


def test_queues_with_redrive_sse_and_fifo(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    work = sqs.get_queue_attributes(QueueUrl=stack.resources["WorkQueue"].ref, AttributeNames=["All"])[
        "Attributes"
    ]
    dlq = stack.resources["WorkDeadLetterQueue"]
    dlq_attrs = sqs.get_queue_attributes(QueueUrl=dlq.ref, AttributeNames=["All"])["Attributes"]
    fifo = sqs.get_queue_attributes(QueueUrl=stack.resources["OrderedQueue"].ref, AttributeNames=["All"])[
        "Attributes"
    ]

    assert json.loads(work["RedrivePolicy"]) == {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 2}
    assert work["VisibilityTimeout"] == "1"
    assert work["KmsMasterKeyId"] == stack.resources["KmsKey"].ref
    assert dlq_attrs["SqsManagedSseEnabled"] == "true" and dlq_attrs["MessageRetentionPeriod"] == "1209600"
    assert fifo["FifoQueue"] == "true" and fifo["ContentBasedDeduplication"] == "true"
    assert stack.resources["OrderedQueue"].physical_id.endswith(".fifo")


def test_kms_secrets_and_parameters(stack: LocalStack) -> None:
    kms = stack.client("kms")
    key_id = stack.resources["KmsKey"].ref
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/xero-bridge-local-key"] == key_id

    secrets = stack.client("secretsmanager")
    generated = json.loads(
        secrets.get_secret_value(SecretId=stack.resources["ClientSecret"].ref)["SecretString"]
    )
    assert generated["client_id"] == "fixture-client" and len(generated["client_secret"]) == 40
    token = secrets.get_secret_value(SecretId=stack.resources["TokenSecret"].ref)["SecretString"]
    assert token == "fixture-no-echo-token-value"
    assert "fixture-no-echo-token-value" in stack.stack.secret_values()

    value = stack.client("ssm").get_parameter(Name="/xero-bridge-local/greeting")["Parameter"]["Value"]
    assert value == "hello"


def test_state_machine_definition_is_substituted(stack: LocalStack) -> None:
    sm = stack.resources["FlowStateMachine"]
    described = stack.client("stepfunctions").describe_state_machine(stateMachineArn=sm.arn)
    definition = json.loads(described["definition"])

    step_arn = stack.resources["StepFunction"].arn
    assert definition["States"]["First"]["Resource"] == step_arn
    assert definition["States"]["Second"]["Parameters"]["FunctionName"] == step_arn
    assert definition["States"]["First"]["Parameters"]["table"] == stack.physical_id("RecordsTable")
    assert "${" not in described["definition"].replace("${TableName}", "")  # only the Comment names it
    assert described["roleArn"].endswith(":role/xero-bridge-local-FlowStateMachineRole")
    assert sm.get_att("Name") == "xero-bridge-local-FlowStateMachine"


def test_alarm_topic_rules_schedules_logs_and_api_keys(stack: LocalStack) -> None:
    alarm = stack.client("cloudwatch").describe_alarms(AlarmNames=[stack.physical_id("DeadLetterAlarm")])
    (described,) = alarm["MetricAlarms"]
    assert described["Dimensions"] == [
        {"Name": "QueueName", "Value": "xero-bridge-local-WorkDeadLetterQueue"}
    ]
    assert described["AlarmActions"] == [stack.resources["AlarmTopic"].arn]

    events = stack.client("events")
    rule = events.describe_rule(Name=stack.physical_id("NightlyRule"))
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    targets = events.list_targets_by_rule(Rule=stack.physical_id("NightlyRule"))["Targets"]
    assert targets[0]["Arn"] == stack.resources["WriterFunction"].arn
    scheduler = stack.client("scheduler")
    assert (
        scheduler.get_schedule(Name="xero-bridge-local-EchoSchedule")["Target"]["Input"]
        == '{"from": "scheduler"}'
    )
    assert (
        scheduler.get_schedule(Name="xero-bridge-local-WriterFunctionHourly")["ScheduleExpression"]
        == "rate(1 hour)"
    )
    assert {s.logical_id for s in stack.stack.schedules} == {
        "NightlyRule",
        "EchoSchedule",
        "WriterFunctionHourly",
        "FlowStateMachineDaily",
    }

    groups = stack.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/xero-bridge-local-Echo")
    assert groups["logGroups"][0]["retentionInDays"] == 14

    apigw = stack.client("apigateway")
    key = apigw.get_api_key(apiKey=stack.resources["DeclaredApiKey"].ref, includeValue=True)
    assert key["enabled"] is True
    plan = apigw.get_usage_plan(usagePlanId=stack.resources["UsagePlan"].ref)
    assert plan["apiStages"] == [{"apiId": stack.resources["FixtureApi"].ref, "stage": "v1"}]


def test_outputs_resolve(stack: LocalStack) -> None:
    outputs = stack.outputs
    assert (
        outputs["ApiUrl"]
        == f"https://{stack.resources['FixtureApi'].ref}.execute-api.eu-west-1.amazonaws.com/v1"
    )
    assert outputs["ImplicitApiUrl"].startswith(f"https://{stack.resources['ServerlessRestApi'].ref}.")
    assert outputs["StateMachineArn"] == stack.resources["FlowStateMachine"].arn


def test_an_authorizer_the_local_api_cannot_check_is_refused(tmp_path: Path) -> None:
    # Serving the route without its Cognito or Lambda authorizer would open it: the template is refused.
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return {}\n")
    (tmp_path / "template.yaml").write_text(
        """
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: dev, Auth: {DefaultAuthorizer: UsersPool}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.13
      Events:
        Get: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /things, Method: get}}
"""
    )

    refused = pytest.raises(TemplateError, match="authorizer 'UsersPool' is not served locally")
    with LocalStack(tmp_path / "template.yaml", stack_name="unknown-authorizer") as stack, refused:
        stack.provision()
