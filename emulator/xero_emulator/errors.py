"""Errors the emulated Xero answers with, in Xero's own shapes.

Xero answers a failed validation with HTTP 400 and a ``ValidationException`` body (``ErrorNumber`` 10)
whose ``Elements`` echo each submitted element with its ``ValidationErrors``. A bad ``where`` clause is a
different 400 (``QueryParseException``, ``ErrorNumber`` 16). A missing record is a 404 whose body is not
JSON at all: Xero sends a short plain-text sentence, so ``NotFound.body`` is ``None`` and the text is in
``NotFound.text`` for a server that wants to reproduce it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NOT_FOUND_TEXT = "The resource you're looking for cannot be found"


class EmulatorError(Exception):
    """An answer other than 2xx: the HTTP ``status`` and the JSON ``body`` (``None`` when Xero sends none)."""

    def __init__(self, status: int, body: dict[str, Any] | None, message: str | None = None) -> None:
        super().__init__(message or (body or {}).get("Message") or f"HTTP {status}")
        self.status = status
        self.body = body


class NotFound(EmulatorError):
    """HTTP 404 with no JSON body (Xero sends plain text, kept in ``text``)."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(404, None, detail or NOT_FOUND_TEXT)
        self.text = NOT_FOUND_TEXT
        self.detail = detail


class BadRequest(EmulatorError):
    """HTTP 400 with Xero's error body (``ValidationException`` unless the body says otherwise)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(400, body)

    @classmethod
    def validation(cls, messages: Iterable[str], element: Mapping[str, Any] | None = None) -> BadRequest:
        """One element failing with ``messages``; ``element`` is what was submitted (echoed like Xero)."""
        return cls(validation_body([element_with_errors(element or {}, messages)]))

    @classmethod
    def query(cls, message: str) -> BadRequest:
        """A ``where``/``order`` that cannot be parsed: Xero's ``QueryParseException``."""
        return cls({"ErrorNumber": 16, "Type": "QueryParseException", "Message": message})

    @property
    def messages(self) -> list[str]:
        """Every validation message in the body, in order (handy in tests and logs)."""
        body = self.body or {}
        found = [
            str(error.get("Message"))
            for element in body.get("Elements", [])
            for error in element.get("ValidationErrors", [])
        ]
        return found or [str(body.get("Message", ""))]


def validation_error_list(messages: Iterable[str]) -> list[dict[str, str]]:
    return [{"Message": message} for message in messages]


def element_with_errors(element: Mapping[str, Any], messages: Iterable[str]) -> dict[str, Any]:
    """The submitted element echoed back with its ``ValidationErrors`` (Xero keeps the other fields).

    ``HasValidationErrors`` is Xero's own flag: an SDK sends ``false`` in every element, and a refused one
    must come back ``true`` (Xero's ValidationException examples show it so).
    """
    echoed = dict(element)
    echoed["HasValidationErrors"] = True
    echoed["ValidationErrors"] = validation_error_list(messages)
    return echoed


def validation_body(elements: list[dict[str, Any]]) -> dict[str, Any]:
    """Xero's 400 body for a failed create/update (``summarizeErrors=true``, the default)."""
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": elements,
    }
