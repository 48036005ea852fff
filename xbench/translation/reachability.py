"""A quick check that a web engine's host answers, so a bare offline build fails in a second, not after retries."""

from __future__ import annotations

import os
import socket

from xbench.errors import XbenchError

ENGINE_HOSTS = {"google": "translate.google.com"}
OFFLINE_ENGINES = "pseudo (layout checks), memory (cached or imported translations), apertium (en<->es), freedict (single words)"
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def require_reachable(engine: str, *, why: str, timeout: float = 3.0) -> None:
    """Raise (exit 1) naming the offline engines when ``engine``'s host cannot be reached.

    Behind a proxy a direct connection says nothing about reachability, so nothing is checked.
    """
    host = ENGINE_HOSTS.get(engine)
    if host is None or any(os.environ.get(v) for v in _PROXY_VARIABLES):
        return
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        raise XbenchError(
            f"{why} is {engine}, which needs the network, and {host} cannot be reached; offline, choose --translator from {OFFLINE_ENGINES}"
        ) from None
