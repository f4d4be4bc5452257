"""The official Twilio client's HTTP layer on kept-alive `engine.channels.http11` connections.

`twilio.rest.Client` builds every request (URL, form body, headers, basic
auth) and reads every answer; it only hands the exchange to its
`http_client`. The default one goes through `requests` and urllib3, about
0.6 ms CPU per SMS; `KeepAliveHttpClient` encodes the request as
`requests` would (form or JSON body, query parameters, basic auth) and
sends it over one kept-alive connection per thread (`ConnectionPool`).

What Twilio would get at ``*.twilio.com`` goes to `base_url` (scheme and
host swapped, path and query as built), so tests and benchmarks point the
official client at a local fake. Nothing is retried: a retried POST could
send an SMS twice. Errors: `ConnectError` while connecting (never sent),
`OSError` or `http.client.HTTPException` afterwards (maybe sent).
"""

from __future__ import annotations

import json
import logging
from base64 import b64encode
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from twilio.http import HttpClient
from twilio.http.response import Response

from engine.channels.http11 import Request
from engine.channels.keepalive import ConnectionPool

_logger = logging.getLogger("twilio.http_client")


class KeepAliveHttpClient(HttpClient):
    """A `twilio.http.HttpClient` on kept-alive connections (see the module docstring)."""

    def __init__(
        self, base_url: str, timeout: float | None, pool: ConnectionPool | None = None
    ) -> None:
        super().__init__(_logger, is_async=False, timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.pool = pool or ConnectionPool()

    def request(
        self,
        method: str,
        uri: str,
        params: Mapping[str, object] | None = None,
        data: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,  # Twilio's API answers without redirects
    ) -> Response:
        """Send one request as Twilio's client built it; return its answer."""
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        wanted = dict(headers or {})
        body = _body(wanted, data)
        if auth is not None:
            wanted["Authorization"] = "Basic " + b64encode(":".join(auth).encode()).decode()
        url = self._target(uri, params)
        if self.logger.isEnabledFor(logging.INFO):
            self.log_request({"method": method, "url": url, "params": None, "headers": wanted})
        request = Request(method.upper(), url, wanted, body)
        reply = self.pool.exchange(request, timeout or self.timeout)
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info("Response Status Code: %s", reply.status)
        return Response(reply.status, reply.body.decode("utf-8", "replace"), reply.headers)

    def _target(self, uri: str, params: Mapping[str, object] | None) -> str:
        parts = urlsplit(uri)
        if parts.hostname is not None and parts.hostname.endswith("twilio.com"):
            uri = self.base_url + uri[len(f"{parts.scheme}://{parts.netloc}") :]
        if params:
            query = urlencode(_pairs(params), doseq=True)
            uri += ("&" if "?" in uri else "?") + query
        return uri


def _body(headers: dict[str, str], data: Mapping[str, object] | None) -> bytes | None:
    """The request body as `requests` encodes `data` (JSON when the client asks for it)."""
    if not data:  # requests sends no body then (and Content-Length: 0 for a POST)
        return None
    if headers.get("Content-Type") in ("application/json", "application/scim+json"):
        return json.dumps(data).encode()
    headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return urlencode(_pairs(data), doseq=True).encode()


def _pairs(values: Mapping[str, object]) -> list[tuple[str, Any]]:
    """Key/value pairs, lists spread over repeated keys and None left out (as `requests`)."""
    pairs: list[tuple[str, Any]] = []
    for key, value in values.items():
        for one in value if isinstance(value, list | tuple) else [value]:
            if one is not None:
                pairs.append((key, one))
    return pairs
