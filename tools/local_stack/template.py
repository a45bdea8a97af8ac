"""Load a SAM template and resolve CloudFormation intrinsics against locally created resources.

Why this exists: ``template.yaml`` is the single list of resources (BRIEF §2). The local stack must read it
the way CloudFormation + the SAM transform would: short-form tags, Parameters (defaults, overrides,
``AllowedValues``, ``NoEcho``), Conditions, ``Globals`` merged into each resource, pseudo parameters, and
``Ref``/``Fn::GetAtt``/``Fn::Sub`` that point at whatever was really created in moto.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_REGION = "eu-west-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_STACK_NAME = "xero-bridge-local"

# Sentinel for AWS::NoValue: the key or list item that holds it disappears after resolution.
NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()


#: ``logical_id -> created resource (with .ref and .get_att(name)) or None``
ResourceLookup = Callable[[str], Any]


class TemplateError(Exception):
    """The template cannot be read or resolved; the message names the resource/intrinsic at fault."""


class UnresolvedReference(TemplateError):
    """A Ref/GetAtt points at a resource that has not been created yet (used to order provisioning)."""

    def __init__(self, logical_id: str, message: str) -> None:
        super().__init__(message)
        self.logical_id = logical_id


# --------------------------------------------------------------------------------------------------
# YAML with CloudFormation short-form tags
# --------------------------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!Ref x`` into ``{"Ref": "x"}``, ``!Sub ...`` into ``{"Fn::Sub": ...}`` etc."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) file with short-form tags."""
    try:
        data = yaml.load(path.read_text(), Loader=_CfnLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return data


# --------------------------------------------------------------------------------------------------
# The template model
# --------------------------------------------------------------------------------------------------

_GLOBAL_SECTIONS = {
    "Function": "AWS::Serverless::Function",
    "Api": "AWS::Serverless::Api",
    "HttpApi": "AWS::Serverless::HttpApi",
    "SimpleTable": "AWS::Serverless::SimpleTable",
    "StateMachine": "AWS::Serverless::StateMachine",
    "LayerVersion": "AWS::Serverless::LayerVersion",
}


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals merge: maps merge by key, lists are additive (globals first), scalars: resource wins."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return copy.deepcopy(local_value)
        merged = copy.deepcopy(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return copy.deepcopy(global_value) + copy.deepcopy(local_value)
    return copy.deepcopy(local_value)


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


@dataclass
class Parameter:
    """One template parameter with its resolved value (string, or list for list types)."""

    name: str
    type: str
    value: Any
    no_echo: bool = False


@dataclass
class ResourceDecl:
    """A resource as declared (Globals merged, properties still with intrinsics)."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)
    condition: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Template:
    """A SAM template, ready to be provisioned.

    Parameters
    ----------
    path:
        The template file; relative paths inside it (CodeUri, ContentUri, DefinitionUri) are relative to
        its folder, as for ``sam build``.
    parameter_overrides:
        ``{"Name": "value"}`` like ``sam deploy --parameter-overrides``; checked against ``AllowedValues``.
    region, account_id, stack_name:
        Values of the pseudo parameters.
    parameter_fallbacks:
        Values for parameters that have no Default and no override (local development values, e.g. the
        Xero emulator's client id), so that a template meant for ``sam deploy --guided`` runs locally as is.
    """

    def __init__(
        self,
        path: str | Path,
        parameter_overrides: Mapping[str, Any] | None = None,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        stack_name: str = DEFAULT_STACK_NAME,
        parameter_fallbacks: Mapping[str, Any] | None = None,
    ) -> None:
        self._fallbacks = dict(parameter_fallbacks or {})
        self.path = Path(path).resolve()
        self.base_dir = self.path.parent
        self.raw = load_yaml(self.path)
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.mappings: dict[str, Any] = self.raw.get("Mappings") or {}
        self.parameters = self._load_parameters(dict(parameter_overrides or {}))
        self.conditions: dict[str, bool] = {}
        self._condition_defs: dict[str, Any] = self.raw.get("Conditions") or {}
        for name in self._condition_defs:
            self.condition(name)
        self.globals: dict[str, Any] = self.raw.get("Globals") or {}
        self.resources = self._load_resources()
        self.outputs: dict[str, Any] = self.raw.get("Outputs") or {}

    # ---- parameters & conditions ----------------------------------------------------------------

    def _load_parameters(self, overrides: dict[str, Any]) -> dict[str, Parameter]:
        declared: dict[str, Any] = self.raw.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"parameter overrides for undeclared parameters: {', '.join(unknown)}")
        params: dict[str, Parameter] = {}
        missing: list[str] = []
        for name, raw_spec in declared.items():
            spec = raw_spec or {}
            ptype = str(spec.get("Type", "String"))
            no_echo = str(spec.get("NoEcho", "false")).lower() == "true"
            if name in overrides:
                raw_value = overrides[name]
            elif "Default" in spec:
                raw_value = spec["Default"]
            elif name in self._fallbacks:
                raw_value = self._fallbacks[name]
            else:
                missing.append(name)
                continue
            value: Any = raw_value
            if ptype.startswith("List<") or ptype == "CommaDelimitedList":
                if isinstance(raw_value, str):
                    value = [item.strip() for item in raw_value.split(",")] if raw_value else []
                else:
                    value = [str(item) for item in raw_value]
            else:
                value = _scalar_to_str(raw_value)
                _check_constraints(name, spec, value, no_echo)
            params[name] = Parameter(name=name, type=ptype, value=value, no_echo=no_echo)
        if missing:
            raise TemplateError(
                f"parameters without a Default need a value (parameter_overrides / --parameter-overrides): "
                f"{', '.join(missing)}"
            )
        return params

    def condition(self, name: str) -> bool:
        """Evaluate (and memoise) a named condition."""
        if name in self.conditions:
            return self.conditions[name]
        if name not in self._condition_defs:
            raise TemplateError(f"condition {name!r} is not declared in Conditions")
        result = self.resolve(self._condition_defs[name], lambda _lid: None)
        if not isinstance(result, bool):
            raise TemplateError(f"condition {name!r} does not evaluate to a boolean: {result!r}")
        self.conditions[name] = result
        return result

    def no_echo_values(self) -> list[str]:
        """Values of NoEcho parameters: to be masked wherever the local stack prints something."""
        values: list[str] = []
        for param in self.parameters.values():
            if param.no_echo:
                values.extend(param.value if isinstance(param.value, list) else [param.value])
        return [v for v in values if v]

    # ---- resources --------------------------------------------------------------------------------

    def _load_resources(self) -> dict[str, ResourceDecl]:
        resources: dict[str, ResourceDecl] = {}
        for logical_id, body in (self.raw.get("Resources") or {}).items():
            if not isinstance(body, dict) or "Type" not in body:
                raise TemplateError(f"resource {logical_id} has no Type")
            condition = body.get("Condition")
            if condition is not None and not self.condition(condition):
                continue  # a resource whose Condition is false is not declared for this deployment
            rtype = str(body["Type"])
            props = copy.deepcopy(body.get("Properties") or {})
            for section, section_type in _GLOBAL_SECTIONS.items():
                if rtype == section_type and section in self.globals:
                    props = merge_globals(self.globals[section], props)
            depends = body.get("DependsOn") or []
            resources[logical_id] = ResourceDecl(
                logical_id=logical_id,
                type=rtype,
                properties=props,
                depends_on=[depends] if isinstance(depends, str) else list(depends),
                condition=condition,
                metadata=body.get("Metadata") or {},
            )
        return resources

    def dependencies(self, decl: ResourceDecl) -> set[str]:
        """Logical ids this resource refers to (Ref, GetAtt, Sub, DependsOn), for creation order."""
        found: set[str] = set(decl.depends_on)
        _collect_refs(decl.properties, found)
        return {d for d in found if d in self.resources and d != decl.logical_id}

    def creation_order(self, extra_deps: Callable[[ResourceDecl], set[str]] | None = None) -> list[str]:
        """Resources in an order where every reference is created first; a cycle is an error, as in CFN."""
        deps = {
            lid: self.dependencies(decl) | ((extra_deps(decl) if extra_deps else set()) & set(self.resources))
            for lid, decl in self.resources.items()
        }
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(lid: str, chain: list[str]) -> None:
            if state.get(lid) == 2:
                return
            if state.get(lid) == 1:
                raise TemplateError(f"circular dependency between resources: {' -> '.join([*chain, lid])}")
            state[lid] = 1
            for dep in sorted(deps[lid]):
                visit(dep, [*chain, lid])
            state[lid] = 2
            order.append(lid)

        for lid in self.resources:
            visit(lid, [])
        return order

    # ---- intrinsic resolution ---------------------------------------------------------------------

    def pseudo(self, name: str) -> Any:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]

    def resolve(self, value: Any, lookup: ResourceLookup) -> Any:
        """Resolve every intrinsic in ``value``.

        ``lookup(logical_id)`` returns an object with ``ref`` and ``get_att(name)`` for a created resource,
        or ``None`` when it has not been created (then :class:`UnresolvedReference` is raised).
        """
        return _Resolver(self, lookup).resolve(value)


_SUB_TOKEN = re.compile(r"\$\{([^}]*)\}")


class _Resolver:
    def __init__(self, template: Template, lookup: Callable[[str], Any]) -> None:
        self.template = template
        self.lookup = lookup

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            handler = _INTRINSICS.get(key)
            if handler is not None:
                return handler(self, arg)
            if key.startswith("Fn::"):
                raise TemplateError(f"intrinsic {key} is not supported by the local stack")
        out: dict[str, Any] = {}
        for key, item in value.items():
            resolved = self.resolve(item)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    # -- individual intrinsics

    def ref(self, name: Any) -> Any:
        name = self.resolve(name)
        if not isinstance(name, str):
            raise TemplateError(f"Ref needs a name, got {name!r}")
        if name.startswith("AWS::"):
            return self.template.pseudo(name)
        if name in self.template.parameters:
            return self.template.parameters[name].value
        if (
            "." in name
        ):  # SAM's own references: !Ref MyApi.Stage, !Ref MyApi.Deployment, !Ref MyFunction.Alias
            logical_id, attribute = name.split(".", 1)
            return self._resource(logical_id, f"Ref {name}").get_att(attribute)
        resource = self._resource(name, f"Ref {name}")
        return resource.ref

    def get_att(self, arg: Any) -> Any:
        arg = self.resolve(arg)
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"Fn::GetAtt needs [resource, attribute], got {arg!r}")
        logical_id, attribute = str(arg[0]), str(arg[1])
        resource = self._resource(logical_id, f"Fn::GetAtt {logical_id}.{attribute}")
        return resource.get_att(attribute)

    def _resource(self, logical_id: str, what: str) -> Any:
        resource = self.lookup(logical_id)
        if resource is None:
            if logical_id in self.template.resources:
                raise UnresolvedReference(logical_id, f"{what}: {logical_id} is not created yet")
            raise UnresolvedReference(logical_id, f"{what}: no resource or parameter named {logical_id}")
        return resource

    def sub(self, arg: Any) -> Any:
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                raise TemplateError(f"Fn::Sub list form needs [string, {{vars}}], got {arg!r}")
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}
        text = self.resolve(text)
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Sub needs a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"  # ${!Literal} stays as ${Literal}
            token = token.strip()
            if token in variables:
                return _scalar_to_str(variables[token])
            if "." in token and not token.startswith("AWS::"):
                resource, attribute = token.split(".", 1)
                return _scalar_to_str(self.get_att([resource, attribute]))
            return _scalar_to_str(self.ref(token))

        return _SUB_TOKEN.sub(replace, text)

    def if_(self, arg: Any) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            raise TemplateError(f"Fn::If needs [condition, true, false], got {arg!r}")
        return self.resolve(arg[1] if self.template.condition(arg[0]) else arg[2])

    def equals(self, arg: Any) -> bool:
        left, right = self.resolve(arg)
        return _scalar_to_str(left) == _scalar_to_str(right)

    def not_(self, arg: Any) -> bool:
        (value,) = self.resolve(arg)
        return not self._boolean(value)

    def and_(self, arg: Any) -> bool:
        return all(self._boolean(v) for v in self.resolve(arg))

    def or_(self, arg: Any) -> bool:
        return any(self._boolean(v) for v in self.resolve(arg))

    def condition_ref(self, name: Any) -> bool:
        return self.template.condition(str(name))

    def _boolean(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise TemplateError(f"a condition function got a non-boolean {value!r}")

    def select(self, arg: Any) -> Any:
        index, items = self.resolve(arg)
        if not isinstance(items, list):
            raise TemplateError(f"Fn::Select needs a list, got {items!r}")
        return items[int(index)]

    def split(self, arg: Any) -> list[str]:
        delimiter, text = self.resolve(arg)
        return str(text).split(str(delimiter))

    def join(self, arg: Any) -> str:
        delimiter, items = self.resolve(arg)
        return str(delimiter).join(_scalar_to_str(i) for i in items)

    def find_in_map(self, arg: Any) -> Any:
        name, top, second = self.resolve(arg)[:3]
        try:
            return self.template.mappings[name][top][second]
        except KeyError as exc:
            raise TemplateError(f"Fn::FindInMap [{name}, {top}, {second}]: no such entry") from exc

    def base64(self, arg: Any) -> str:
        import base64

        return base64.b64encode(str(self.resolve(arg)).encode()).decode()

    def get_azs(self, arg: Any) -> list[str]:
        region = self.resolve(arg) or self.template.region
        return [f"{region}{suffix}" for suffix in "abc"]

    def import_value(self, arg: Any) -> Any:
        raise TemplateError(
            f"Fn::ImportValue {arg!r}: cross-stack imports are not supported by the local stack "
            "(there is no other stack locally); pass the value as a Parameter instead"
        )


_INTRINSICS: dict[str, Callable[[_Resolver, Any], Any]] = {
    "Ref": _Resolver.ref,
    "Fn::GetAtt": _Resolver.get_att,
    "Fn::Sub": _Resolver.sub,
    "Fn::If": _Resolver.if_,
    "Fn::Equals": _Resolver.equals,
    "Fn::Not": _Resolver.not_,
    "Fn::And": _Resolver.and_,
    "Fn::Or": _Resolver.or_,
    "Condition": _Resolver.condition_ref,
    "Fn::Select": _Resolver.select,
    "Fn::Split": _Resolver.split,
    "Fn::Join": _Resolver.join,
    "Fn::FindInMap": _Resolver.find_in_map,
    "Fn::Base64": _Resolver.base64,
    "Fn::GetAZs": _Resolver.get_azs,
    "Fn::ImportValue": _Resolver.import_value,
}


def _collect_refs(value: Any, found: set[str]) -> None:
    """Every logical id named by Ref, GetAtt or a ${...} of Sub inside ``value``."""
    if isinstance(value, list):
        for item in value:
            _collect_refs(item, found)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        key, arg = next(iter(value.items()))
        if key == "Ref" and isinstance(arg, str):
            found.add(arg.split(".", 1)[0])
            return
        if key == "Fn::GetAtt":
            if isinstance(arg, str):
                found.add(arg.split(".", 1)[0])
            elif isinstance(arg, list) and arg and isinstance(arg[0], str):
                found.add(arg[0])
            return
        if key == "Fn::Sub":
            text = arg[0] if isinstance(arg, list) else arg
            local_vars = set(arg[1]) if isinstance(arg, list) and len(arg) > 1 else set()
            if isinstance(text, str):
                for token in _SUB_TOKEN.findall(text):
                    name = token.strip().split(".", 1)[0]
                    if not token.startswith("!") and name not in local_vars:
                        found.add(name)
            if isinstance(arg, list) and len(arg) > 1:
                _collect_refs(arg[1], found)
            return
    for item in value.values():
        _collect_refs(item, found)


def _check_constraints(name: str, spec: dict[str, Any], value: str, no_echo: bool) -> None:
    """AllowedValues, AllowedPattern, MinLength, MaxLength: CloudFormation refuses the stack otherwise."""
    shown = "****" if no_echo else repr(value)
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [_scalar_to_str(a) for a in allowed]:
        raise TemplateError(f"parameter {name}={shown} is not one of AllowedValues {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        hint = spec.get("ConstraintDescription") or f"AllowedPattern {pattern}"
        raise TemplateError(f"parameter {name}={shown} does not match: {hint}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise TemplateError(f"parameter {name} is shorter than MinLength {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise TemplateError(f"parameter {name} is longer than MaxLength {spec['MaxLength']}")


def _scalar_to_str(value: Any) -> str:
    """CloudFormation's string form of a scalar (``true`` not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
