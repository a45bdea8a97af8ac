"""Create, inside moto, every resource a SAM template declares, and describe what was created.

Why: the template is the only list of resources (BRIEF §2). Each declared resource is either created in
moto with its real properties (tables with their GSIs and TTL, queues with their redrive and SSE, the state
machine from its ``.asl.json`` with substitutions...), registered with the parts of the local stack that
run beside moto (functions, layers, APIs, event sources, schedules), or recorded as *declared, not needed
locally* with the reason. :meth:`Stack.declared_vs_created` lets a test prove that nothing was forgotten.

Must run while moto's ``mock_aws`` is active (the :class:`~tools.local_stack.stack.LocalStack` does that).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from tools.local_stack.model import (
    ApiRoute,
    FunctionSpec,
    LocalResource,
    ScheduleSpec,
    SqsSource,
    StreamSource,
)
from tools.local_stack.template import NO_VALUE, ResourceDecl, Template, TemplateError

LOG = logging.getLogger("tools.local_stack")

IMPLICIT_API = "ServerlessRestApi"
#: The REST API authorizers the local API Gateway enforces: none, or IAM (SigV4, tools/local_stack/sigv4.py).
LOCAL_AUTHORIZERS = ("NONE", "AWS_IAM")

# Declared types the local stack deliberately does not create, with the reason shown to the user.
_IAM = (
    "IAM policies are not evaluated locally (moto does not; the local API checks SigV4 signatures, not "
    "policies); checked by sam validate and in AWS"
)
NOT_NEEDED: dict[str, str] = {
    "AWS::IAM::Role": _IAM,
    "AWS::IAM::Policy": _IAM,
    "AWS::IAM::ManagedPolicy": _IAM,
    "AWS::Lambda::Permission": "invoke permissions are not enforced: the local stack calls functions itself",
    "AWS::Lambda::Version": "versions resolve to $LATEST locally (one copy of the code)",
    "AWS::Lambda::Alias": "aliases resolve to $LATEST locally (one copy of the code)",
    "AWS::Lambda::EventInvokeConfig": "asynchronous invocation settings: nothing invokes asynchronously",
    "AWS::SQS::QueuePolicy": "resource policies are not enforced locally",
    "AWS::SNS::TopicPolicy": "resource policies are not enforced locally",
    "AWS::ApiGateway::Deployment": "the local API serves the routes directly, without deployments",
    "AWS::ApiGateway::Stage": "the local API serves routes without a stage prefix, as sam local start-api",
    "AWS::ApiGateway::Account": "account-wide API Gateway logging role: nothing to do locally",
    "AWS::SecretsManager::RotationSchedule": "secret rotation is not run locally",
    "AWS::SecretsManager::SecretTargetAttachment": "no database to attach a secret to locally",
    "AWS::XRay::Group": "there is no X-Ray collector locally (tracing is off, as under sam local)",
    "AWS::XRay::SamplingRule": "there is no X-Ray collector locally (tracing is off, as under sam local)",
    "AWS::Logs::MetricFilter": "metric filters need CloudWatch Logs ingestion, which moto does not run",
    "AWS::Logs::SubscriptionFilter": "subscriptions need CloudWatch Logs ingestion, which moto does not run",
    "AWS::CloudFormation::WaitConditionHandle": "a CloudFormation-only construct",
}

# Events on functions that the local stack serves itself.
_SERVED_EVENTS = {"Api", "SQS", "Schedule", "ScheduleV2"}


def _name(stack: str, logical_id: str, limit: int, suffix: str = "") -> str:
    """A deterministic physical name like CloudFormation's ``<stack>-<LogicalId>`` (no random suffix)."""
    base = f"{stack}-{logical_id}"
    return base[: limit - len(suffix)] + suffix


def _tags_list(tags: Any, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    if isinstance(tags, dict):
        return [{key: str(k), value: str(v)} for k, v in tags.items()]
    return [{key: str(t["Key"]), value: str(t["Value"])} for t in tags or []]


def _bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


@dataclass
class DeclaredVsCreated:
    """What the template declares against what the local stack created (or knowingly skipped)."""

    declared: set[str]
    created: set[str]
    not_needed: dict[str, str]
    unhandled: dict[str, str]

    @property
    def missing(self) -> set[str]:
        return self.declared - self.created - set(self.not_needed)

    @property
    def extra(self) -> set[str]:
        return self.created - self.declared

    @property
    def exact(self) -> bool:
        return not self.missing and not self.extra and not self.unhandled

    def describe(self) -> str:
        lines = [
            f"declared {len(self.declared)}, created {len(self.created)}, not needed {len(self.not_needed)}"
        ]
        lines += [f"  missing: {lid}" for lid in sorted(self.missing)]
        lines += [f"  extra: {lid}" for lid in sorted(self.extra)]
        lines += [f"  unhandled: {lid}: {why}" for lid, why in sorted(self.unhandled.items())]
        return "\n".join(lines)


@dataclass
class Stack:
    """The provisioned template: resources by logical id, plus what the runtime, API and pollers need."""

    template: Template
    resources: dict[str, LocalResource] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[ApiRoute] = field(default_factory=list)
    sqs_sources: list[SqsSource] = field(default_factory=list)
    stream_sources: list[StreamSource] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    api_key_values: list[str] = field(default_factory=list)
    unhandled: dict[str, str] = field(default_factory=dict)
    unsupported_events: dict[str, str] = field(default_factory=dict)

    def declared_vs_created(self) -> DeclaredVsCreated:
        """Compare the template's (condition-true) resources with what exists locally."""
        declared = set(self.template.resources)
        created = {lid for lid, r in self.resources.items() if r.created and not r.implicit}
        not_needed = {
            lid: r.reason or "" for lid, r in self.resources.items() if not r.created and not r.implicit
        }
        return DeclaredVsCreated(declared, created, not_needed, dict(self.unhandled))

    def function_by_arn(self, arn_or_name: str) -> FunctionSpec | None:
        """The function an ARN (with or without qualifier), a name or a logical id designates."""
        for spec in self.functions.values():
            if arn_or_name in (spec.arn, spec.name, spec.logical_id) or arn_or_name.startswith(
                spec.arn + ":"
            ):
                return spec
        return None

    def state_machine_by_arn(self, arn: str) -> str | None:
        for lid, res in self.resources.items():
            if (
                res.type in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
                and res.arn == arn
            ):
                return lid
        return None

    def secret_values(self) -> list[str]:
        """Values that must never be printed: NoEcho parameters, secret strings, API key values."""
        values = list(self.template.no_echo_values()) + list(self.api_key_values)
        for res in self.resources.values():
            values.extend(res.attrs.get("_secret_values", []))
        return [v for v in values if v]


class Provisioner:
    """Walks the template in dependency order and creates each resource (see module docstring)."""

    def __init__(self, template: Template) -> None:
        self.t = template
        self.stack = Stack(template=template)
        self.region = template.region
        self.account = template.account_id
        self.prefix = template.stack_name
        self._clients: dict[str, Any] = {}
        self._handlers: dict[str, Callable[[ResourceDecl, dict[str, Any]], LocalResource]] = {
            "AWS::DynamoDB::Table": self._dynamodb_table,
            "AWS::Serverless::SimpleTable": self._simple_table,
            "AWS::SQS::Queue": self._sqs_queue,
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::SSM::Parameter": self._ssm_parameter,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::CloudWatch::Alarm": self._alarm,
            "AWS::CloudWatch::Dashboard": self._dashboard,
            "AWS::SNS::Topic": self._sns_topic,
            "AWS::SNS::Subscription": self._sns_subscription,
            "AWS::Events::Rule": self._events_rule,
            "AWS::Scheduler::Schedule": self._scheduler_schedule,
            "AWS::Scheduler::ScheduleGroup": self._scheduler_group,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::Serverless::Function": self._function,
            "AWS::Serverless::LayerVersion": self._layer,
            "AWS::Serverless::Api": self._api,
            "AWS::ApiGateway::ApiKey": self._api_key,
            "AWS::ApiGateway::UsagePlan": self._usage_plan,
            "AWS::ApiGateway::UsagePlanKey": self._usage_plan_key,
            "AWS::Lambda::EventSourceMapping": self._event_source_mapping,
        }

    # ---- plumbing ---------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self._clients[service]

    def lookup(self, logical_id: str) -> LocalResource | None:
        return self.stack.resources.get(logical_id)

    def resolve(self, value: Any) -> Any:
        return self.t.resolve(value, self.lookup)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    # ---- entry point -------------------------------------------------------------------------------

    def provision(self) -> Stack:
        """Create everything; returns the :class:`Stack`. Raises :class:`TemplateError` with the culprit."""
        self._implicit_resources()
        for logical_id in self.t.creation_order():
            decl = self.t.resources[logical_id]
            handler = self._handlers.get(decl.type)
            if handler is None:
                self._not_handled(decl)
                continue
            try:
                props = self.resolve(decl.properties)
                resource = handler(decl, props)
            except (TemplateError, ClientError) as exc:  # UnresolvedReference is a TemplateError
                raise TemplateError(f"{logical_id} ({decl.type}): {exc}") from exc
            self.stack.resources[logical_id] = resource
        self._outputs()
        return self.stack

    def _not_handled(self, decl: ResourceDecl) -> None:
        reason = NOT_NEEDED.get(decl.type)
        if reason is None:
            self.stack.unhandled[decl.logical_id] = f"{decl.type} has no local provisioner"
            LOG.warning("local stack: %s (%s) is not provisioned locally", decl.logical_id, decl.type)
            reason = f"{decl.type}: no local provisioner"
        name = _name(self.prefix, decl.logical_id, 64)
        arn = None
        if decl.type in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy"):
            kind = "role" if decl.type == "AWS::IAM::Role" else "policy"
            name = str(decl.properties.get("RoleName") or decl.properties.get("ManagedPolicyName") or name)
            arn = f"arn:aws:iam::{self.account}:{kind}/{name}"
        self.stack.resources[decl.logical_id] = LocalResource(
            logical_id=decl.logical_id,
            type=decl.type,
            physical_id=name,
            arn=arn,
            ref=arn if decl.type == "AWS::IAM::ManagedPolicy" else name,
            attrs={"RoleId": f"AROA{decl.logical_id.upper()[:17]}"} if decl.type == "AWS::IAM::Role" else {},
            created=False,
            reason=reason,
        )

    def _implicit_resources(self) -> None:
        """What SAM's transform adds and templates refer to: ServerlessRestApi and generated roles."""
        needs_implicit_api = False
        for lid, decl in self.t.resources.items():
            if decl.type == "AWS::Serverless::Function":
                for event in (decl.properties.get("Events") or {}).values():
                    if event.get("Type") == "Api" and "RestApiId" not in (event.get("Properties") or {}):
                        needs_implicit_api = True
            if (
                decl.type in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine")
                and "Role" not in decl.properties
            ):
                role = f"{lid}Role"
                arn = f"arn:aws:iam::{self.account}:role/{_name(self.prefix, role, 64)}"
                self.stack.resources[role] = LocalResource(
                    logical_id=role,
                    type="AWS::IAM::Role",
                    physical_id=arn.rsplit("/", 1)[1],
                    arn=arn,
                    ref=arn.rsplit("/", 1)[1],
                    created=False,
                    implicit=True,
                    reason=NOT_NEEDED["AWS::IAM::Role"],
                )
        if needs_implicit_api:
            props = merge_api_globals(self.t, {})
            decl = ResourceDecl(logical_id=IMPLICIT_API, type="AWS::Serverless::Api", properties=props)
            resource = self._api(decl, self.resolve(props), name=f"{self.prefix}-api")
            resource.implicit = True
            self.stack.resources[IMPLICIT_API] = resource

    def _outputs(self) -> None:
        for name, output in self.t.outputs.items():
            if output.get("Condition") and not self.t.condition(output["Condition"]):
                continue
            try:
                self.stack.outputs[name] = self.resolve(output.get("Value"))
            except TemplateError as exc:
                self.stack.outputs[name] = f"<unresolved: {exc}>"

    # ---- DynamoDB ---------------------------------------------------------------------------------

    def _dynamodb_table(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("TableName") or _name(self.prefix, decl.logical_id, 255))
        billing = str(props.get("BillingMode") or "PROVISIONED")
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
        gsis = []
        for declared_gsi in props.get("GlobalSecondaryIndexes") or []:
            gsi = {k: v for k, v in declared_gsi.items() if k in ("IndexName", "KeySchema", "Projection")} | (
                {"ProvisionedThroughput": _throughput(declared_gsi.get("ProvisionedThroughput"))}
                if billing == "PROVISIONED"
                else {}
            )
            gsis.append(gsi)
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = gsis
        if props.get("LocalSecondaryIndexes"):
            kwargs["LocalSecondaryIndexes"] = props["LocalSecondaryIndexes"]
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        sse = props.get("SSESpecification")
        if sse:
            kwargs["SSESpecification"] = (
                {"Enabled": _bool(sse.get("SSEEnabled"))}
                | ({"SSEType": sse["SSEType"]} if sse.get("SSEType") else {})
                | ({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if sse.get("KMSMasterKeyId") else {})
            )
        if props.get("Tags"):
            kwargs["Tags"] = _tags_list(props["Tags"])
        if "DeletionProtectionEnabled" in props:
            kwargs["DeletionProtectionEnabled"] = _bool(props["DeletionProtectionEnabled"])
        ddb = self.client("dynamodb")
        table = ddb.create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and _bool(ttl.get("Enabled")):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr and _bool(pitr.get("PointInTimeRecoveryEnabled")):
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        attrs = {"Arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            attrs["StreamArn"] = table["LatestStreamArn"]
        return LocalResource(
            decl.logical_id, decl.type, name, table["TableArn"], name, attrs, service="dynamodb"
        )

    def _simple_table(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        key_type = {"String": "S", "Number": "N", "Binary": "B"}[str(key.get("Type", "String"))]
        table_props: dict[str, Any] = {
            "TableName": props.get("TableName"),
            "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": key_type}],
            "BillingMode": "PROVISIONED" if props.get("ProvisionedThroughput") else "PAY_PER_REQUEST",
            "ProvisionedThroughput": props.get("ProvisionedThroughput"),
            "SSESpecification": props.get("SSESpecification"),
            "Tags": props.get("Tags"),
        }
        return self._dynamodb_table(decl, {k: v for k, v in table_props.items() if v is not None})

    # ---- SQS ----------------------------------------------------------------------------------------

    def _sqs_queue(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        fifo = _bool(props.get("FifoQueue"))
        name = str(props.get("QueueName") or _name(self.prefix, decl.logical_id, 80, ".fifo" if fifo else ""))
        attributes: dict[str, str] = {}
        for key in (
            "DelaySeconds",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout",
            "KmsMasterKeyId",
            "KmsDataKeyReusePeriodSeconds",
            "DeduplicationScope",
            "FifoThroughputLimit",
        ):
            if key in props:
                attributes[key] = str(props[key])
        for key in ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"):
            if key in props:
                attributes[key] = "true" if _bool(props[key]) else "false"
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in props:
                value = props[key]
                attributes[key] = value if isinstance(value, str) else json.dumps(value)
        sqs = self.client("sqs")
        kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if props.get("Tags"):
            kwargs["tags"] = {t["Key"]: str(t["Value"]) for t in _tags_list(props["Tags"])}
        url = sqs.create_queue(**kwargs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attrs = {"Arn": arn, "QueueName": name, "QueueUrl": url}
        return LocalResource(decl.logical_id, decl.type, url, arn, url, attrs, service="sqs")

    # ---- KMS, Secrets Manager, SSM ------------------------------------------------------------------

    def _kms_key(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        kwargs: dict[str, Any] = {}
        if props.get("Description"):
            kwargs["Description"] = props["Description"]
        if props.get("KeyUsage"):
            kwargs["KeyUsage"] = props["KeyUsage"]
        if props.get("KeySpec"):
            kwargs["KeySpec"] = props["KeySpec"]
        if props.get("KeyPolicy"):
            policy = props["KeyPolicy"]
            kwargs["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        if props.get("Tags"):
            kwargs["Tags"] = _tags_list(props["Tags"], "TagKey", "TagValue")
        kms = self.client("kms")
        meta = kms.create_key(**kwargs)["KeyMetadata"]
        if _bool(props.get("EnableKeyRotation")):
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        if not _bool(props.get("Enabled"), default=True):
            kms.disable_key(KeyId=meta["KeyId"])
        attrs = {"Arn": meta["Arn"], "KeyId": meta["KeyId"]}
        return LocalResource(
            decl.logical_id, decl.type, meta["KeyId"], meta["Arn"], meta["KeyId"], attrs, service="kms"
        )

    def _kms_alias(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props["AliasName"])
        self.client("kms").create_alias(AliasName=name, TargetKeyId=str(props["TargetKeyId"]))
        arn = self.arn("kms", name)
        return LocalResource(decl.logical_id, decl.type, name, arn, name, {}, service="kms")

    def _secret(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("Name") or _name(self.prefix, decl.logical_id, 512))
        kwargs: dict[str, Any] = {"Name": name}
        if props.get("Description"):
            kwargs["Description"] = props["Description"]
        if props.get("KmsKeyId"):
            kwargs["KmsKeyId"] = props["KmsKeyId"]
        if props.get("Tags"):
            kwargs["Tags"] = _tags_list(props["Tags"])
        secret_string = props.get("SecretString")
        generate = props.get("GenerateSecretString")
        if generate is not None:
            secret_string = self._generate_secret(generate)
        if secret_string is not None:
            kwargs["SecretString"] = str(secret_string)
        arn = self.client("secretsmanager").create_secret(**kwargs)["ARN"]
        # The value is kept only to mask it in anything the local stack prints.
        attrs: dict[str, Any] = {"Id": arn, "_secret_values": [str(secret_string)] if secret_string else []}
        return LocalResource(decl.logical_id, decl.type, arn, arn, arn, attrs, service="secretsmanager")

    def _generate_secret(self, spec: dict[str, Any]) -> str:
        kwargs: dict[str, Any] = {"PasswordLength": int(spec.get("PasswordLength", 32))}
        for key in (
            "ExcludeCharacters",
            "ExcludeLowercase",
            "ExcludeNumbers",
            "ExcludePunctuation",
            "ExcludeUppercase",
            "IncludeSpace",
            "RequireEachIncludedType",
        ):
            if key in spec:
                kwargs[key] = spec[key] if key == "ExcludeCharacters" else _bool(spec[key])
        password = str(self.client("secretsmanager").get_random_password(**kwargs)["RandomPassword"])
        template = spec.get("SecretStringTemplate")
        if template is not None and spec.get("GenerateStringKey"):
            document = json.loads(template)
            document[spec["GenerateStringKey"]] = password
            return json.dumps(document)
        return password

    def _ssm_parameter(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("Name") or f"CFN-{decl.logical_id}-{self.prefix}")
        value = props["Value"]
        kwargs: dict[str, Any] = {
            "Name": name,
            "Value": ",".join(value) if isinstance(value, list) else str(value),
            "Type": str(props.get("Type", "String")),
        }
        for key in ("Description", "Tier", "AllowedPattern", "DataType"):
            if props.get(key):
                kwargs[key] = props[key]
        if props.get("Tags"):
            kwargs["Tags"] = _tags_list(props["Tags"])
        self.client("ssm").put_parameter(**kwargs)
        arn = self.arn("ssm", f"parameter/{name.lstrip('/')}")
        attrs = {"Type": kwargs["Type"], "Value": kwargs["Value"]}
        return LocalResource(decl.logical_id, decl.type, name, arn, name, attrs, service="ssm")

    # ---- Step Functions -----------------------------------------------------------------------------

    def _state_machine(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        serverless = decl.type == "AWS::Serverless::StateMachine"
        name = str(
            props.get("Name" if serverless else "StateMachineName") or _name(self.prefix, decl.logical_id, 80)
        )
        definition = self._definition(decl, props)
        substitutions = props.get("DefinitionSubstitutions") or {}
        for key, value in substitutions.items():
            definition = definition.replace("${" + key + "}", str(value))
        left = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
        if left:
            raise TemplateError(
                f"the definition uses ${{{'}, ${'.join(left)}}} but DefinitionSubstitutions does not define "
                f"{'it' if len(left) == 1 else 'them'} (Step Functions would reject the definition)"
            )
        if serverless:
            role = props.get("Role") or self.stack.resources[f"{decl.logical_id}Role"].arn
        else:
            role = props["RoleArn"]
        kwargs: dict[str, Any] = {"name": name, "definition": definition, "roleArn": str(role)}
        sm_type = props.get("Type" if serverless else "StateMachineType")
        if sm_type:
            kwargs["type"] = str(sm_type)
        tracing = props.get("Tracing" if serverless else "TracingConfiguration")
        if tracing and "Enabled" in tracing:
            kwargs["tracingConfiguration"] = {"enabled": _bool(tracing["Enabled"])}
        arn = self.client("stepfunctions").create_state_machine(**kwargs)["stateMachineArn"]
        resource = LocalResource(
            decl.logical_id, decl.type, arn, arn, arn, {"Name": name, "Arn": arn}, service="stepfunctions"
        )
        self.stack.resources[decl.logical_id] = resource  # schedules below resolve it
        if serverless:
            for event_name, event in (props.get("Events") or {}).items():
                self._owner_event(decl.logical_id, "statemachine", arn, event_name, event)
        return resource

    def _definition(self, decl: ResourceDecl, props: dict[str, Any]) -> str:
        if props.get("Definition") is not None:
            return json.dumps(props["Definition"])
        if props.get("DefinitionString") is not None:
            return str(props["DefinitionString"])
        uri = props.get("DefinitionUri")
        if isinstance(uri, str):
            path = (self.t.base_dir / uri).resolve()
            if not path.is_file():
                raise TemplateError(f"DefinitionUri {uri} does not exist (looked at {path})")
            text = path.read_text()
            if path.suffix in (".yaml", ".yml"):
                import yaml

                return json.dumps(yaml.safe_load(text))
            return text
        raise TemplateError(
            "a state machine needs Definition, DefinitionString or a local DefinitionUri path"
        )

    # ---- CloudWatch, SNS, Logs ---------------------------------------------------------------------

    def _alarm(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("AlarmName") or _name(self.prefix, decl.logical_id, 255))
        kwargs: dict[str, Any] = {"AlarmName": name}
        ints = ("Period", "EvaluationPeriods", "DatapointsToAlarm")
        for key, value in props.items():
            if key == "AlarmName":
                continue
            if key in ints:
                kwargs[key] = int(value)
            elif key == "Threshold":
                kwargs[key] = float(value)
            elif key == "ActionsEnabled":
                kwargs[key] = _bool(value)
            elif key == "Tags":
                kwargs[key] = _tags_list(value)
            else:
                kwargs[key] = value
        self.client("cloudwatch").put_metric_alarm(**kwargs)
        arn = self.arn("cloudwatch", f"alarm:{name}")
        return LocalResource(decl.logical_id, decl.type, name, arn, name, {"Arn": arn}, service="cloudwatch")

    def _dashboard(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("DashboardName") or _name(self.prefix, decl.logical_id, 255))
        body = props["DashboardBody"]
        self.client("cloudwatch").put_dashboard(
            DashboardName=name, DashboardBody=body if isinstance(body, str) else json.dumps(body)
        )
        arn = f"arn:aws:cloudwatch::{self.account}:dashboard/{name}"
        return LocalResource(decl.logical_id, decl.type, name, arn, name, {}, service="cloudwatch")

    def _sns_topic(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        fifo = _bool(props.get("FifoTopic"))
        name = str(
            props.get("TopicName") or _name(self.prefix, decl.logical_id, 256, ".fifo" if fifo else "")
        )
        attributes = {
            key: str(props[key]) if not isinstance(props[key], bool) else str(props[key]).lower()
            for key in ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication")
            if key in props
        }
        sns = self.client("sns")
        kwargs: dict[str, Any] = {"Name": name, "Attributes": attributes}
        if props.get("Tags"):
            kwargs["Tags"] = _tags_list(props["Tags"])
        arn = sns.create_topic(**kwargs)["TopicArn"]
        for sub in props.get("Subscription") or []:
            sns.subscribe(TopicArn=arn, Protocol=sub["Protocol"], Endpoint=str(sub["Endpoint"]))
        attrs = {"TopicArn": arn, "TopicName": name}
        return LocalResource(decl.logical_id, decl.type, arn, arn, arn, attrs, service="sns")

    def _sns_subscription(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        arn = self.client("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=str(props.get("Endpoint", ""))
        )["SubscriptionArn"]
        return LocalResource(decl.logical_id, decl.type, arn, arn, arn, {}, service="sns")

    def _log_group(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("LogGroupName") or f"/aws/{self.prefix}/{decl.logical_id}")
        logs = self.client("logs")
        logs.create_log_group(logGroupName=name)
        if props.get("RetentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        arn = self.arn("logs", f"log-group:{name}:*")
        return LocalResource(decl.logical_id, decl.type, name, arn, name, {"Arn": arn}, service="logs")

    # ---- EventBridge, Scheduler --------------------------------------------------------------------

    def _events_rule(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("Name") or _name(self.prefix, decl.logical_id, 64))
        kwargs: dict[str, Any] = {"Name": name, "State": str(props.get("State", "ENABLED"))}
        if props.get("ScheduleExpression"):
            kwargs["ScheduleExpression"] = props["ScheduleExpression"]
        if props.get("EventPattern"):
            pattern = props["EventPattern"]
            kwargs["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if props.get("Description"):
            kwargs["Description"] = props["Description"]
        if props.get("EventBusName"):
            kwargs["EventBusName"] = props["EventBusName"]
        events = self.client("events")
        arn = events.put_rule(**kwargs)["RuleArn"]
        targets = props.get("Targets") or []
        if targets:
            events.put_targets(
                Rule=name,
                **({"EventBusName": props["EventBusName"]} if props.get("EventBusName") else {}),
                Targets=[
                    {k: v for k, v in t.items() if k in ("Id", "Arn", "Input", "InputPath", "RoleArn")}
                    for t in targets
                ],
            )
        if props.get("ScheduleExpression"):
            for target in targets:
                self._record_schedule(
                    decl.logical_id,
                    name,
                    arn,
                    expression=str(props["ScheduleExpression"]),
                    target_arn=str(target["Arn"]),
                    input_=target.get("Input"),
                    enabled=kwargs["State"] == "ENABLED",
                    kind="events",
                )
        return LocalResource(decl.logical_id, decl.type, name, arn, name, {"Arn": arn}, service="events")

    def _scheduler_schedule(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("Name") or _name(self.prefix, decl.logical_id, 64))
        group = str(props.get("GroupName") or "default")
        target = props["Target"]
        kwargs: dict[str, Any] = {
            "Name": name,
            "GroupName": group,
            "ScheduleExpression": props["ScheduleExpression"],
            "FlexibleTimeWindow": props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
            "Target": {k: v for k, v in target.items() if k in ("Arn", "RoleArn", "Input", "RetryPolicy")},
            "State": str(props.get("State", "ENABLED")),
        }
        for key in ("Description", "ScheduleExpressionTimezone"):
            if props.get(key):
                kwargs[key] = props[key]
        arn = self.client("scheduler").create_schedule(**kwargs)["ScheduleArn"]
        self._record_schedule(
            decl.logical_id,
            name,
            arn,
            expression=str(props["ScheduleExpression"]),
            target_arn=str(target["Arn"]),
            input_=target.get("Input"),
            enabled=kwargs["State"] == "ENABLED",
            kind="scheduler",
        )
        return LocalResource(decl.logical_id, decl.type, name, arn, name, {"Arn": arn}, service="scheduler")

    def _scheduler_group(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("Name") or _name(self.prefix, decl.logical_id, 64))
        arn = self.client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
        return LocalResource(decl.logical_id, decl.type, name, arn, name, {"Arn": arn}, service="scheduler")

    def _record_schedule(
        self,
        owner: str,
        name: str,
        arn: str,
        *,
        expression: str,
        target_arn: str,
        input_: Any,
        enabled: bool,
        kind: str,
        logical_id: str | None = None,
    ) -> None:
        target_kind, target_lid = "other", None
        spec = self.stack.function_by_arn(target_arn)
        if spec is not None:
            target_kind, target_lid = "function", spec.logical_id
        else:
            sm = self.stack.state_machine_by_arn(target_arn)
            if sm is not None:
                target_kind, target_lid = "statemachine", sm
        if input_ is not None and not isinstance(input_, str):
            input_ = json.dumps(input_)
        self.stack.schedules.append(
            ScheduleSpec(
                logical_id=logical_id or owner,
                name=name,
                arn=arn,
                expression=expression,
                target_arn=target_arn,
                target_kind=target_kind,
                target_logical_id=target_lid,
                input=input_,
                enabled=enabled,
                kind=kind,
                owner=owner,
            )
        )

    def _owner_event(
        self, owner: str, kind: str, target_arn: str, event_name: str, event: dict[str, Any]
    ) -> None:
        """A function's or state machine's ``Schedule``/``ScheduleV2`` event: SAM's implicit rule/schedule."""
        etype = event.get("Type")
        props = event.get("Properties") or {}
        implicit_id = f"{owner}{event_name}"
        if etype == "Schedule":
            name = str(props.get("Name") or _name(self.prefix, implicit_id, 64))
            enabled = _bool(props.get("Enabled"), True) and str(props.get("State", "ENABLED")) == "ENABLED"
            events = self.client("events")
            arn = events.put_rule(
                Name=name,
                ScheduleExpression=str(props["Schedule"]),
                State="ENABLED" if enabled else "DISABLED",
            )["RuleArn"]
            target: dict[str, Any] = {"Id": f"{owner}{event_name}Target"[:64], "Arn": target_arn}
            if props.get("Input") is not None:
                target["Input"] = props["Input"]
            events.put_targets(Rule=name, Targets=[target])
            expression = str(props["Schedule"])
            source_kind = "events"
        elif etype == "ScheduleV2":
            name = str(props.get("Name") or _name(self.prefix, implicit_id, 64))
            enabled = str(props.get("State", "ENABLED")) == "ENABLED"
            expression = str(props["ScheduleExpression"])
            role = f"arn:aws:iam::{self.account}:role/{_name(self.prefix, implicit_id + 'Role', 64)}"
            sched_target: dict[str, Any] = {"Arn": target_arn, "RoleArn": role}
            if props.get("Input") is not None:
                sched_target["Input"] = props["Input"]
            arn = self.client("scheduler").create_schedule(
                Name=name,
                GroupName=str(props.get("GroupName") or "default"),
                ScheduleExpression=expression,
                FlexibleTimeWindow=props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
                Target=sched_target,
                State="ENABLED" if enabled else "DISABLED",
            )["ScheduleArn"]
            source_kind = "scheduler"
        else:
            return
        self.stack.resources[implicit_id] = LocalResource(
            implicit_id,
            "AWS::Events::Rule" if etype == "Schedule" else "AWS::Scheduler::Schedule",
            name,
            arn,
            name,
            {"Arn": arn},
            implicit=True,
            service=source_kind,
        )
        self._record_schedule(
            owner,
            name,
            arn,
            expression=expression,
            target_arn=target_arn,
            input_=props.get("Input"),
            enabled=enabled,
            kind=source_kind,
            logical_id=implicit_id,
        )

    # ---- Lambda: functions, layers, event sources ---------------------------------------------------

    def _layer(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("LayerName") or _name(self.prefix, decl.logical_id, 64))
        content = props.get("ContentUri")
        if not isinstance(content, str):
            raise TemplateError("ContentUri must be a local folder for the local stack")
        content_dir = (self.t.base_dir / content).resolve()
        if not content_dir.is_dir():
            raise TemplateError(f"ContentUri {content} is not a folder (looked at {content_dir})")
        arn = self.arn("lambda", f"layer:{name}:1")
        attrs = {"content_dir": content_dir, "LayerVersionArn": arn}
        return LocalResource(decl.logical_id, decl.type, arn, arn, arn, attrs, service="local")

    def _function(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        name = str(props.get("FunctionName") or _name(self.prefix, decl.logical_id, 64))
        arn = self.arn("lambda", f"function:{name}")
        code = props.get("CodeUri")
        if not isinstance(code, str):
            raise TemplateError("CodeUri must be a local folder for the local stack")
        code_dir = (self.t.base_dir / code).resolve()
        if not code_dir.is_dir():
            raise TemplateError(f"CodeUri {code} is not a folder (looked at {code_dir})")
        layer_dirs: list[Path] = []
        layer_arns = {
            r.arn: r for r in self.stack.resources.values() if r.type == "AWS::Serverless::LayerVersion"
        }
        for layer_arn in props.get("Layers") or []:
            layer = layer_arns.get(str(layer_arn))
            if layer is None:
                LOG.info(
                    "%s: layer %s is not local; its packages come from the virtualenv",
                    decl.logical_id,
                    layer_arn,
                )
                continue
            layer_dirs.append(layer.attrs["content_dir"])
        env = {k: _env_str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()}
        secret_names = {k for k, v in env.items() if v and v in self.t.no_echo_values()}
        spec = FunctionSpec(
            logical_id=decl.logical_id,
            name=name,
            arn=arn,
            code_dir=code_dir,
            handler=str(props.get("Handler", "app.lambda_handler")),
            runtime=str(props.get("Runtime", "python3.13")),
            timeout=int(props.get("Timeout", 3)),
            memory_size=int(props.get("MemorySize", 128)),
            environment=env,
            layer_dirs=layer_dirs,
            architectures=[str(a) for a in props.get("Architectures") or ["x86_64"]],
            tracing=str(props["Tracing"]) if props.get("Tracing") else None,
            logging_config=dict(props.get("LoggingConfig") or {}),
            secret_env_names=secret_names,
        )
        self.stack.functions[decl.logical_id] = spec
        resource = LocalResource(
            decl.logical_id,
            decl.type,
            name,
            arn,
            name,
            {"Arn": arn},
            service="local",
        )
        self.stack.resources[decl.logical_id] = resource
        for event_name, event in (props.get("Events") or {}).items():
            self._function_event(spec, event_name, event)
        return resource

    def _function_event(self, spec: FunctionSpec, event_name: str, event: dict[str, Any]) -> None:
        etype = str(event.get("Type"))
        props = event.get("Properties") or {}
        if etype == "Api":
            api_id = IMPLICIT_API
            rest_api = props.get("RestApiId")
            if rest_api is not None:
                api_id = next(
                    (lid for lid, r in self.stack.resources.items() if r.ref == rest_api and "Api" in r.type),
                    "",
                )
                if not api_id:
                    raise TemplateError(
                        f"event {event_name}: RestApiId {rest_api} is not an Api of this template"
                    )
            api = self.stack.resources[api_id]
            event_auth = props.get("Auth") or {}
            required = event_auth.get("ApiKeyRequired", api.attrs.get("ApiKeyRequired", False))
            authorizer = str(event_auth.get("Authorizer") or api.attrs.get("DefaultAuthorizer") or "NONE")
            if authorizer not in LOCAL_AUTHORIZERS:
                # Serving the route without its authorizer would open it: refuse the template instead.
                raise TemplateError(
                    f"event {event_name}: authorizer {authorizer!r} is not served locally "
                    f"(only {' and '.join(LOCAL_AUTHORIZERS)})"
                )
            self.stack.routes.append(
                ApiRoute(
                    function=spec.logical_id,
                    event_name=event_name,
                    method=str(props["Method"]).upper().replace("ANY", "ANY"),
                    path=str(props["Path"]),
                    api=api_id,
                    api_key_required=_bool(required),
                    authorizer=authorizer,
                    stage=str(api.attrs.get("Stage", "Prod")),
                )
            )
        elif etype == "SQS":
            queue_arn = str(props["Queue"])
            self.stack.sqs_sources.append(
                SqsSource(
                    logical_id=f"{spec.logical_id}{event_name}",
                    function=spec.logical_id,
                    queue_arn=queue_arn,
                    queue_url=self._queue_url(queue_arn),
                    batch_size=int(props.get("BatchSize", 10)),
                    maximum_batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (props.get("FunctionResponseTypes") or []),
                    enabled=_bool(props.get("Enabled"), True),
                    maximum_concurrency=(props.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                    filter_criteria=props.get("FilterCriteria"),
                )
            )
        elif etype == "DynamoDB":
            on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            self.stack.stream_sources.append(
                StreamSource(
                    logical_id=f"{spec.logical_id}{event_name}",
                    function=spec.logical_id,
                    stream_arn=str(props["Stream"]),
                    starting_position=str(props.get("StartingPosition", "LATEST")),
                    batch_size=int(props.get("BatchSize", 100)),
                    maximum_batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                    bisect_on_error=_bool(props.get("BisectBatchOnFunctionError")),
                    maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                    on_failure_arn=str(on_failure) if on_failure else None,
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (props.get("FunctionResponseTypes") or []),
                    enabled=_bool(props.get("Enabled"), True),
                    filter_criteria=props.get("FilterCriteria"),
                )
            )
        elif etype in ("Schedule", "ScheduleV2"):
            self._owner_event(spec.logical_id, "function", spec.arn, event_name, event)
        else:
            self.stack.unsupported_events[f"{spec.logical_id}.{event_name}"] = (
                f"event type {etype} is not served by the local stack (invoke the function directly)"
            )

    def _queue_url(self, queue_arn: str) -> str:
        for res in self.stack.resources.values():
            if res.type == "AWS::SQS::Queue" and res.arn == queue_arn:
                return str(res.ref)
        name = queue_arn.rsplit(":", 1)[-1]
        return str(self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    def _event_source_mapping(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        spec = self.stack.function_by_arn(str(props["FunctionName"]))
        source_arn = str(props.get("EventSourceArn", ""))
        if spec is None or ":sqs:" not in source_arn:
            raise TemplateError(
                "only SQS event source mappings to functions of this template are served locally"
            )
        self.stack.sqs_sources.append(
            SqsSource(
                logical_id=decl.logical_id,
                function=spec.logical_id,
                queue_arn=source_arn,
                queue_url=self._queue_url(source_arn),
                batch_size=int(props.get("BatchSize", 10)),
                maximum_batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (props.get("FunctionResponseTypes") or []),
                enabled=_bool(props.get("Enabled"), True),
                filter_criteria=props.get("FilterCriteria"),
            )
        )
        uuid = f"local-esm-{decl.logical_id}"
        return LocalResource(decl.logical_id, decl.type, uuid, None, uuid, {"Id": uuid}, service="local")

    # ---- API Gateway -------------------------------------------------------------------------------

    def _api(self, decl: ResourceDecl, props: dict[str, Any], name: str | None = None) -> LocalResource:
        api_name = str(props.get("Name") or name or _name(self.prefix, decl.logical_id, 128))
        apigw = self.client("apigateway")
        api = apigw.create_rest_api(name=api_name, description=str(props.get("Description", "")))
        stage = str(props.get("StageName", "Prod"))
        auth = props.get("Auth") or {}
        attrs = {
            "RootResourceId": api["rootResourceId"],
            "Stage": stage,
            "ApiKeyRequired": _bool(auth.get("ApiKeyRequired")),
            "DefaultAuthorizer": auth.get("DefaultAuthorizer"),
        }
        if props.get("DefinitionBody") or props.get("DefinitionUri"):
            LOG.warning(
                "%s: routes come from the functions' Api events; the OpenAPI definition is not read locally",
                decl.logical_id,
            )
        return LocalResource(
            decl.logical_id,
            decl.type,
            api["id"],
            self.arn("apigateway", f"/restapis/{api['id']}"),
            api["id"],
            attrs,
            service="apigateway",
        )

    def _api_key(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        kwargs: dict[str, Any] = {
            "name": str(props.get("Name") or _name(self.prefix, decl.logical_id, 128)),
            "enabled": _bool(props.get("Enabled"), False),
        }
        if props.get("Value"):
            kwargs["value"] = str(props["Value"])
        if props.get("Description"):
            kwargs["description"] = props["Description"]
        key = self.client("apigateway").create_api_key(**kwargs)
        if kwargs["enabled"]:
            self.stack.api_key_values.append(str(key["value"]))
        return LocalResource(
            decl.logical_id,
            decl.type,
            key["id"],
            None,
            key["id"],
            {"APIKeyId": key["id"]},
            service="apigateway",
        )

    def _usage_plan(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        kwargs: dict[str, Any] = {
            "name": str(props.get("UsagePlanName") or _name(self.prefix, decl.logical_id, 128))
        }
        if props.get("Description"):
            kwargs["description"] = props["Description"]
        if props.get("ApiStages"):
            kwargs["apiStages"] = [{"apiId": s["ApiId"], "stage": s["Stage"]} for s in props["ApiStages"]]
        if props.get("Throttle"):
            th = props["Throttle"]
            kwargs["throttle"] = {
                "burstLimit": int(th.get("BurstLimit", 0)),
                "rateLimit": float(th.get("RateLimit", 0)),
            }
        if props.get("Quota"):
            q = props["Quota"]
            kwargs["quota"] = {
                "limit": int(q["Limit"]),
                "period": q["Period"],
                "offset": int(q.get("Offset", 0)),
            }
        plan = self.client("apigateway").create_usage_plan(**kwargs)
        return LocalResource(
            decl.logical_id, decl.type, plan["id"], None, plan["id"], {"Id": plan["id"]}, service="apigateway"
        )

    def _usage_plan_key(self, decl: ResourceDecl, props: dict[str, Any]) -> LocalResource:
        key = self.client("apigateway").create_usage_plan_key(
            usagePlanId=props["UsagePlanId"], keyId=props["KeyId"], keyType=props.get("KeyType", "API_KEY")
        )
        return LocalResource(decl.logical_id, decl.type, key["id"], None, key["id"], {}, service="apigateway")


def merge_api_globals(template: Template, props: dict[str, Any]) -> dict[str, Any]:
    """The implicit ServerlessRestApi gets ``Globals.Api`` like a declared Api."""
    from tools.local_stack.template import merge_globals

    if "Api" in template.globals:
        return dict(merge_globals(template.globals["Api"], props))
    return props


def _throughput(value: Any) -> dict[str, int]:
    value = value or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    return {
        "ReadCapacityUnits": int(value["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(value["WriteCapacityUnits"]),
    }


def _env_str(value: Any) -> str:
    if value is NO_VALUE or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def provision(template: Template) -> Stack:
    """Create every resource of ``template`` in the active moto mock; see :class:`Provisioner`."""
    return Provisioner(template).provision()
