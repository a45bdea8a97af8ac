"""What the functions log, captured as Lambda writes it: Powertools JSON, through the redaction guard."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from xero_bridge.observability import logger


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every line the Powertools logger writes meanwhile, formatted (and redacted) exactly as in Lambda."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    try:
        yield buffer
    finally:
        logging.getLogger(logger.name).removeHandler(handler)
