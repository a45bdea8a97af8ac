"""Unit tests run with sockets disabled (``tests/unit/conftest.py``): a test that reaches for the network
fails loudly instead of depending on a server that CI may not have."""

from __future__ import annotations

import socket

import pytest
import pytest_socket


def test_a_unit_test_cannot_open_a_socket() -> None:
    with pytest.raises(pytest_socket.SocketBlockedError):
        socket.create_connection(("127.0.0.1", 9))
