"""``python -m xero_emulator``: run the emulator alone until Ctrl-C (``make xero``).

Prints every setting with its default at start; the client secret and the webhook key only masked.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import fields
from typing import Any

from xero_emulator.config import SECRET_FIELDS, EmulatorConfig, mask
from xero_emulator.server import Emulator


def _parser() -> argparse.ArgumentParser:
    d = EmulatorConfig()
    p = argparse.ArgumentParser(
        prog="python -m xero_emulator", description="Run the Xero emulator on 127.0.0.1."
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--client-id", default=d.client_id)
    p.add_argument("--client-secret", default=d.client_secret)
    p.add_argument(
        "--redirect-uri",
        action="append",
        default=None,
        help=f"registered redirect URI, repeatable (default {d.redirect_uris[0]})",
    )
    p.add_argument("--webhook-url", default="", help="where webhooks are delivered (default: none)")
    p.add_argument("--webhook-key", default=d.webhook_key)
    p.add_argument(
        "--seed", default="small", choices=["none", "small", "large"], help="seed profile (default small)"
    )
    p.add_argument("--rng-seed", type=int, default=d.rng_seed)
    p.add_argument(
        "--clock-scale", type=float, default=d.clock_scale, help="simulated seconds per real second"
    )
    p.add_argument("--no-rate-limits", action="store_true", help="do not enforce Xero's rate limits")
    p.add_argument("--require-pkce", action="store_true", help="refuse authorize requests without PKCE")
    p.add_argument("--verbose", action="store_true", help="log every request (method, path, status)")
    return p


def build_config(args: argparse.Namespace) -> EmulatorConfig:
    defaults = EmulatorConfig()
    return EmulatorConfig(
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uris=tuple(args.redirect_uri) if args.redirect_uri else defaults.redirect_uris,
        require_pkce=args.require_pkce,
        seed=args.seed,
        rng_seed=args.rng_seed,
        clock_scale=args.clock_scale,
        enforce_rate_limits=not args.no_rate_limits,
        webhook_url=args.webhook_url or None,
        webhook_key=args.webhook_key,
    )


def banner(config: EmulatorConfig, base_url: str) -> str:
    """One line per setting: value and default, secrets masked."""
    defaults = EmulatorConfig()
    lines = [f"Xero emulator on {base_url}", "settings (value  [default]):"]
    for f in fields(EmulatorConfig):
        value: Any = getattr(config, f.name)
        default: Any = getattr(defaults, f.name)
        if f.name in SECRET_FIELDS:
            value, default = mask(value), mask(default)
        lines.append(f"  {f.name:<30} {value!s:<40} [{default}]")
    lines += [
        f"  login / identity / API base URL: {base_url}",
        f"  admin API: {base_url}/__admin/  (e.g. GET {base_url}/__admin/tenants)",
        "Ctrl-C stops.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    config = build_config(args)
    emulator = Emulator(config)
    base_url = emulator.start(host=args.host, port=args.port)
    print(banner(config, base_url), flush=True)
    done = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
        print("Xero emulator stopped.", flush=True)
    return 0


def exit_now(code: int) -> None:
    """Leave without tearing the heap down object by object.

    The emulator holds every seeded record (the large profile: millions of objects); freeing them one by
    one at interpreter exit took 1.5 s and more after a sync, so a SIGTERM was not obeyed within a second
    or two. By now the server is stopped and the port closed; only the output needs flushing.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
