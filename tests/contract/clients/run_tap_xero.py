"""Run Singer's ``tap-xero`` CLI unchanged, with Xero's two hosts pointed at the emulator.

Usage (with the tap's own virtualenv, ``.venv/tap-xero``)::

    XERO_EMULATOR_URL=http://127.0.0.1:8765 .venv/tap-xero/bin/python run_tap_xero.py --config c.json ...

tap-xero hard-codes Xero's URLs and has no setting for them: the API base is the module constant
``tap_xero.client.BASE_URL``, set here; the token URL ``https://identity.xero.com/connect/token`` is a
literal inside ``XeroClient.refresh_credentials``, so every ``requests`` session gets a transport adapter
for that one host that sends the same request to the emulator instead. Nothing else of the tap is touched:
its requests, headers, paging, parsing and output are its own. This file runs in the tap's virtualenv
(singer-python pins old libraries), never imported by the test suite.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import requests
from requests.adapters import HTTPAdapter

XERO_IDENTITY = "https://identity.xero.com/"


class _ToEmulator(HTTPAdapter):
    """Sends a request for Xero's identity host to the emulator: only the URL's base changes."""

    def __init__(self, emulator: str) -> None:
        super().__init__()
        self._emulator = emulator.rstrip("/") + "/"

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        request.url = self._emulator + request.url[len(XERO_IDENTITY) :]
        return super().send(request, **kwargs)


def point_at(emulator: str) -> None:
    import tap_xero.client

    tap_xero.client.BASE_URL = f"{emulator.rstrip('/')}/api.xro/2.0"
    original_init = requests.Session.__init__

    def init(session: requests.Session) -> None:
        original_init(session)
        session.mount(XERO_IDENTITY, _ToEmulator(emulator))

    requests.Session.__init__ = init  # type: ignore[method-assign]


if __name__ == "__main__":
    point_at(os.environ["XERO_EMULATOR_URL"])
    import tap_xero

    sys.argv[0] = "tap-xero"
    tap_xero.main()
