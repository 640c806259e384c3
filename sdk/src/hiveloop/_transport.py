"""How a batch leaves the process: one POST to ``/v1/ingest``.

The transport knows HTTP and nothing about queues, retries or contexts: it
sends one body and says what happened, so the worker can decide what to do.
"""

from __future__ import annotations

import email.utils
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from ._log import logger
from ._version import __version__

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
MAX_RETRY_AFTER = 60.0
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class SendResult:
    """What happened to one body.

    ``retryable`` is true for connection errors, timeouts, 5xx and 429;
    ``rejected`` counts events the server refused one by one (HTTP 207).
    """

    status: int | None
    retryable: bool = False
    rejected: int = 0
    retry_after: float | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Transport(Protocol):
    """Delivers one serialized ingest body. Implementations must not raise."""

    def send(self, body: bytes, event_count: int, timeout: float | None = None) -> SendResult: ...

    def close(self) -> None: ...


class HttpTransport:
    """``POST {endpoint}/v1/ingest`` on a pooled ``requests.Session``."""

    def __init__(self, endpoint: str, api_key: str) -> None:
        self._url = endpoint.rstrip("/") + "/v1/ingest"
        self._api_key = api_key
        self._session = self._new_session()
        self._template = self._prepare_template()

    def _prepare_template(self) -> requests.PreparedRequest:
        """One prepared POST, reused for every batch with a new body.

        ``Session.post`` re-merges settings, cookies and hooks on every call,
        and even copying a prepared request costs a good part of a loopback
        request. The worker posts from one delivery thread, so one is enough.
        """
        return self._session.prepare_request(requests.Request("POST", self._url, data=b"{}"))

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # Read proxy and CA settings from the environment once, here, rather
        # than on every request (requests would re-read them, netrc included).
        session.proxies = requests.utils.get_environ_proxies(self._url)
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0))
        session.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0))
        # Only the headers HiveBoard reads: each one is written and parsed per batch.
        session.headers = CaseInsensitiveDict(
            {
                "Authorization": f"Bearer {self._api_key}",
                "Content-Type": "application/json",
                "User-Agent": f"hiveloop-python/{__version__}",
            }
        )
        return session

    def reopen(self) -> None:
        """A fresh connection pool, for a forked child (sockets are not fork-safe)."""
        self._session = self._new_session()
        self._template = self._prepare_template()

    def send(self, body: bytes, event_count: int, timeout: float | None = None) -> SendResult:
        connect = CONNECT_TIMEOUT if timeout is None else max(0.05, min(CONNECT_TIMEOUT, timeout))
        read = READ_TIMEOUT if timeout is None else max(0.05, min(READ_TIMEOUT, timeout))
        try:
            request = self._template
            request.body = body
            request.headers["Content-Length"] = str(len(body))
            adapter = self._session.get_adapter(self._url)
            response = adapter.send(request, timeout=(connect, read), proxies=self._session.proxies)
            status = response.status_code
            if status in (307, 308):
                response = self._follow(response, (connect, read))
                status = response.status_code
            if 200 <= status < 300 and status != 207:
                response.content  # noqa: B018 (read to the end: the connection goes back to the pool)
                return SendResult(status)
            return interpret(status, response.headers, _json(response), event_count)
        except requests.Timeout as exc:
            return SendResult(None, retryable=True, error=f"timeout: {exc}")
        except requests.RequestException as exc:
            return SendResult(None, retryable=True, error=f"connection error: {exc}")
        except Exception as exc:  # the transport never raises into the worker
            return SendResult(None, retryable=True, error=f"unexpected error: {exc!r}")

    def _follow(
        self, response: requests.Response, timeout: tuple[float, float]
    ) -> requests.Response:
        """Re-post the batch where a 307/308 points (an http:// endpoint sent to https://).

        Only within the same host, where the API key may go (the rule ``requests``
        applies to redirects); a 308 is remembered, so later batches go there directly.
        """
        url = self._url
        for _ in range(MAX_REDIRECTS):
            location = response.headers.get("Location")
            if response.status_code not in (307, 308) or not location:
                break
            target = urljoin(url, location)
            if self._session.should_strip_auth(url, target):  # type: ignore[no-untyped-call]
                break
            response.content  # noqa: B018 (read to the end: the connection goes back to the pool)
            request = self._template.copy()
            request.url = target
            adapter = self._session.get_adapter(target)
            permanent = response.status_code == 308
            response = adapter.send(request, timeout=timeout, proxies=self._session.proxies)
            url = target
            if permanent and response.status_code not in (307, 308):
                self._url = target
                self._template = self._prepare_template()
        return response

    def close(self) -> None:
        self._session.close()


def _json(response: requests.Response) -> Any:
    """The parsed body, or None: a body cut off mid-read must not hide the status.

    The status line already says what to do (a 503 is retried); losing the
    connection while reading its details must not turn that into a lost batch.
    """
    try:
        return response.json()
    except Exception:
        return None


def interpret(status: int, headers: Any, body: Any, event_count: int) -> SendResult:
    """Map an HTTP answer onto what the worker should do with the batch."""
    detail = body if isinstance(body, dict) else {}
    if status == 207:
        rejected = int(detail.get("rejected", 0) or 0)
        errors = detail.get("errors") or []
        logger.debug("server rejected %d of %d events: %s", rejected, event_count, errors[:5])
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        message = f"{rejected} events rejected: {first.get('error')}: {first.get('message')}"
        return SendResult(status, rejected=rejected, error=message if rejected else None)
    if 200 <= status < 300:
        return SendResult(status)
    message = f"HTTP {status}: {detail.get('message') or detail.get('error') or 'no details'}"
    if status == 429 or status >= 500:
        return SendResult(status, retryable=True, retry_after=retry_after(headers), error=message)
    return SendResult(status, error=message)


def retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), capped."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = parsed.timestamp() - time.time()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))
