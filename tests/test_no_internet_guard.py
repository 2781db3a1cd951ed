"""The suite's network guard (conftest ``_no_internet``): an in-process connect to a public
address fails at once naming it, while loopback stays open for the local venues."""

from __future__ import annotations

import socket

import pytest


def test_a_public_address_is_refused_and_loopback_is_not(_no_internet):
    s = socket.socket()
    try:
        with pytest.raises(OSError, match=r"test tried to reach \('93\.184\.216\.34', 443\)"):
            s.connect(("93.184.216.34", 443))
    finally:
        s.close()
    assert _no_internet == [("93.184.216.34", 443)]
    _no_internet.clear()  # the refusal was this test's point, not a leak
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.socket()
    try:
        assert c.connect_ex(srv.getsockname()) == 0
    finally:
        c.close()
        srv.close()
