"""``python -m tools.local_stack``: the docker-free ``sam local invoke`` and ``sam local start-api``.

``invoke FUNCTION --event FILE [--env-vars FILE]``
    Provision a fresh local stack from the template, run one function in a sandbox, print its JSON result on
    stdout (logs on stderr) and exit non-zero on an unhandled error, as ``sam local invoke`` does.
    FUNCTION is a logical id, a function name, or a CodeUri folder (``oauth_callback``). ``--prepare`` first
    brings the fresh stack to the state an initial-sync task's event names (the Xero emulator with the
    event's tenant, the org connected, the run planned...; see :mod:`tools.local_stack.prepare`).

``start --api-port 3000 --xero-port 8765 --api-key KEY --api-access-key-id ID --api-secret-access-key S``
    Start the Xero emulator, provision the stack with the emulator's URLs in the template's Xero
    parameters, serve the API, poll the queues, and serve until Ctrl-C (``make start``). The API's
    ``AWS_IAM`` routes accept requests signed (SigV4, ``execute-api``, ``--region``) with that access key.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tools.local_stack.sigv4 import LOCAL_CREDENTIALS, IamCredentials
from tools.local_stack.stack import LocalStack
from tools.local_stack.template import DEFAULT_STACK_NAME, TemplateError


def _overrides(pairs: list[str] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs or []:
        for item in pair.split():
            name, sep, value = item.partition("=")
            if not sep:
                raise SystemExit(f"--parameter-overrides expects Name=Value, got {item!r}")
            result[name.removeprefix("ParameterKey=")] = value
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.local_stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--template", "-t", default="template.yaml", help="SAM template (default template.yaml)"
        )
        p.add_argument("--parameter-overrides", nargs="*", metavar="NAME=VALUE", help="template parameters")
        p.add_argument("--region", default="eu-west-1")
        p.add_argument(
            "--stack-name", default=DEFAULT_STACK_NAME, help="AWS::StackName (prefix of physical names)"
        )
        p.add_argument("--verbose", action="store_true", help="debug logs of the local stack")

    invoke = sub.add_parser("invoke", help="run one function with an event (docker-free sam local invoke)")
    invoke.add_argument("function", help="logical id, function name or CodeUri folder (oauth_callback)")
    invoke.add_argument("--event", "-e", help="event JSON file ('-' for stdin; default {})")
    invoke.add_argument("--env-vars", "-n", help="env vars JSON file, sam local invoke format")
    invoke.add_argument(
        "--prepare",
        action="store_true",
        help="first prepare the state an initial-sync task's event names (emulator, connection, run)",
    )
    common(invoke)

    start = sub.add_parser("start", help="emulator + stack + API + pollers, until Ctrl-C")
    start.add_argument("--api-port", type=int, default=3000)
    start.add_argument("--xero-port", type=int, default=8765)
    start.add_argument("--api-key", default="local-api-key", help="x-api-key of the usage plan (local only)")
    start.add_argument(
        "--api-access-key-id",
        default=LOCAL_CREDENTIALS.access_key_id,
        help="access key id the SigV4 routes accept (local only)",
    )
    start.add_argument(
        "--api-secret-access-key",
        default=LOCAL_CREDENTIALS.secret_access_key,
        help="its secret access key (local only; never a real AWS key)",
    )
    start.add_argument("--seed", default="small", choices=["none", "small", "large"])
    start.add_argument("--host", default="127.0.0.1")
    start.add_argument("--env-vars", "-n", help="env vars JSON file, sam local invoke format")
    common(start)
    return parser


def _read_event(path: str | None) -> Any:
    if path is None:
        return {}
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    return json.loads(text) if text.strip() else {}


def cmd_invoke(args: argparse.Namespace) -> int:
    try:
        event = _read_event(args.event)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read event {args.event}: {exc}", file=sys.stderr)
        return 2
    try:
        with contextlib.ExitStack() as exits:
            overrides = _overrides(args.parameter_overrides)
            preparation = None
            if args.prepare:
                from tools.local_stack import prepare  # lazily: only --prepare needs the emulator

                preparation = exits.enter_context(prepare.prepared(event))
                if preparation is not None:
                    overrides = {**prepare.xero_parameters(preparation[1]), **overrides}
            stack = exits.enter_context(
                LocalStack(
                    args.template,
                    parameter_overrides=overrides,
                    env_overrides=args.env_vars,
                    region=args.region,
                    stack_name=args.stack_name,
                    log_sink=sys.stderr,
                )
            )
            stack.provision()
            function = stack.resolve_function(args.function)
            if preparation is not None:
                task, xero = preparation
                prepare.prepare(stack, xero, function, task, event)
            result = stack.invoke(function, event)
    except (TemplateError, KeyError, OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(result.response_payload()) + "\n")
    sys.stdout.flush()
    return 1 if result.invocation_error else 0


def cmd_start(args: argparse.Namespace) -> int:
    from tools.local_stack.app import running_app  # lazily: only `start` needs the emulator

    with running_app(
        template=args.template,
        seed=args.seed,
        host=args.host,
        api_port=args.api_port,
        xero_port=args.xero_port,
        api_key=args.api_key,
        api_credentials=IamCredentials(args.api_access_key_id, args.api_secret_access_key),
        region=args.region,
        parameter_overrides=_overrides(args.parameter_overrides),
        env_overrides=args.env_vars,
        log_sink=sys.stderr,
        stack_name=args.stack_name,
        schedules=True,
    ) as app:
        stack = app.stack
        report = stack.declared_vs_created()
        print(f"local stack    {stack.template.path.name}: {report.describe().splitlines()[0]}")
        credentials = app.api_credentials
        print(f"API            {app.api_url}   (x-api-key: {app.api_key})")
        print(
            f"  SigV4        access key id {credentials.access_key_id}, secret access key "
            f"{credentials.secret_access_key} (local only), service execute-api, region {app.region}"
        )
        print(f"Xero emulator  {app.xero_url}   (seed: {args.seed})")
        print(f"API docs       {app.api_url}/docs   (Swagger UI, this local stack only; /openapi.json)")
        for route in sorted(stack.stack.routes, key=lambda r: r.path):
            checks = (("SigV4", route.authorizer == "AWS_IAM"), ("x-api-key", route.api_key_required))
            needs = [name for name, needed in checks if needed]
            shown = f"  [{' + '.join(needs)}]" if needs else ""
            print(f"  {route.method:6} {app.api_url}{route.path}  -> {route.function}{shown}")
        if app.webhook_path:
            registered = (app.webhook_registration or {}).get("passed")
            check = "intent-to-receive passed" if registered else "intent-to-receive NOT passed"
            print(f"webhooks       {app.xero_url} delivers to {app.api_url}{app.webhook_path} ({check})")
        for schedule in stack.stack.schedules:
            print(f"schedule       {schedule.owner}: {schedule.expression}")
        print(
            f"connect        curl -X POST --aws-sigv4 'aws:amz:{app.region}:execute-api' --user "
            f"'{credentials.access_key_id}:{credentials.secret_access_key}' -H 'x-api-key: {app.api_key}' "
            f"-H 'content-type: application/json' {app.api_url}/orgs/demo-org/connect -d '{{}}'"
            "   then open its connect_url"
        )
        stop_signals: list[int] = []
        signal.signal(signal.SIGINT, lambda signum, _: stop_signals.append(signum))
        signal.signal(signal.SIGTERM, lambda signum, _: stop_signals.append(signum))
        print("Ctrl-C to stop.", flush=True)
        # The handlers take no lock. One that set a threading.Event could deadlock: Python runs a handler in
        # the main thread between two bytecodes, and `make` sends its own SIGTERM right after the one sent to
        # the group, so the second could land while the main thread holds that Event's lock. The sleep loop
        # also runs a handler whose signal the kernel gave to another thread.
        while not stop_signals:
            time.sleep(0.2)
        # Leaving the block closes the stack (API, pollers, sandboxes, moto). On a loaded machine that close
        # was seen to take over a minute; whoever pressed Ctrl-C or sent SIGTERM wants the ports back now,
        # and nothing here outlives the process (moto's data is in memory), so the close is bounded. The
        # watchdog is faulthandler's own C thread: it needs neither the GIL nor the main thread to fire.
        print(f"stopping: the stack closes within {CLOSE_SECONDS:.0f} s", file=sys.stderr, flush=True)
        faulthandler.dump_traceback_later(CLOSE_SECONDS, exit=True, file=sys.stderr)
    return 0


#: How long ``make start`` may take to close its stack after Ctrl-C or SIGTERM before it exits regardless
#: (status 1, with every thread's stack on stderr: what the close was waiting on).
CLOSE_SECONDS = 15.0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "invoke":
        return cmd_invoke(args)
    try:
        return cmd_start(args)
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
