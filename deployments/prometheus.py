"""Range queries against a Prometheus server, for the analyses of a rollout's steps.

``query_range`` reads ``/api/v1/query_range`` as Argo Rollouts' Prometheus provider does
(the query, start, end and step, times in unix seconds) and returns every finite sample
of every series the query returned. Anything that stops an analysis from getting numbers
raises ``PrometheusError`` with a sentence a person can act on.

The URL comes from a deployment plan, that is from a person: only http and https, no
redirects followed, and a bounded answer (size, points per series, time), so a wrong or
hostile server cannot hang a worker or exhaust its memory. No Django import.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np

#: The most an answer may weigh; more is refused before it is parsed.
MAX_RESPONSE_BYTES = 50 * 1024 * 1024
#: Prometheus refuses range queries asking for more points per series than this.
MAX_POINTS_PER_SERIES = 11_000
#: ``step_for`` keeps a window to about this many points per series.
TARGET_POINTS = 1_000

_CHUNK = 64 * 1024


class PrometheusError(Exception):
    """A range query gave no numbers; ``reason`` says why, for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RangeResult:
    """The finite samples of every series a range query returned, flattened."""

    query: str
    url: str
    step_seconds: float
    values: np.ndarray
    series: int
    #: NaN and infinite samples left out of ``values``.
    dropped: int = 0
    #: Warnings Prometheus sent with its answer (for example a truncated selection).
    warnings: tuple[str, ...] = ()


def step_for(window_seconds: float) -> float:
    """A step that gives about ``TARGET_POINTS`` points per series over a window, never
    less than one second, in whole seconds."""
    if not window_seconds > 0:
        raise ValueError(f"a window must be longer than zero seconds, not {window_seconds}")
    return float(max(1, math.ceil(window_seconds / TARGET_POINTS)))


def query_range(
    base_url: str,
    query: str,
    *,
    start: datetime,
    end: datetime,
    step_seconds: float,
    timeout: float = 5.0,
) -> RangeResult:
    """Evaluate ``query`` from ``start`` to ``end`` every ``step_seconds`` on the Prometheus
    at ``base_url`` (its root, e.g. ``http://prometheus:9090`` or ``https://host/prom``).

    ``timeout`` bounds each network wait, and the whole answer to twice that."""
    url = _range_url(base_url, query, start=start, end=end, step_seconds=step_seconds)
    status, content_type, body = _get(url, base_url, timeout)
    answer = _decode(body)
    if answer is None:
        kind = content_type.split(";")[0].strip() or "no content type"
        said = f"answered HTTP {status} ({kind})" if status != 200 else f"answered {kind}"
        raise PrometheusError(
            f"the server at {base_url} {said}, not Prometheus's API; is this the address of "
            "Prometheus itself?"
        )
    if status != 200 or answer["status"] != "success":
        raise PrometheusError(_error_sentence(answer, status))
    values, series, dropped = _samples(answer, base_url)
    if series == 0:
        raise PrometheusError("the query returned no data for the window")
    if values.size == 0 and dropped:
        raise PrometheusError(
            f"the query returned only NaN or infinite values for the window ({dropped} "
            "samples), as a ratio does when nothing was counted"
        )
    if values.size == 0:
        raise PrometheusError("the query returned series without numbers for the window")
    warnings = answer.get("warnings") or ()
    return RangeResult(
        query=query,
        url=url,
        step_seconds=step_seconds,
        values=values,
        series=series,
        dropped=dropped,
        warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
    )


def _range_url(
    base_url: str, query: str, *, start: datetime, end: datetime, step_seconds: float
) -> str:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PrometheusError(
            f"{base_url!r} is not a Prometheus address: give an http:// or https:// URL "
            "such as http://prometheus:9090"
        )
    if parts.username or parts.password:
        raise PrometheusError("give the Prometheus URL without a user name or password in it")
    if parts.query or parts.fragment:
        raise PrometheusError(
            f"give the Prometheus URL without a query or fragment (…?… or …#…): {base_url!r}"
        )
    if not query.strip():
        raise PrometheusError("the PromQL query is empty")
    for moment in (start, end):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"give times with a time zone, not the naive {moment.isoformat()}")
    if end < start:
        raise ValueError(f"the window ends ({end.isoformat()}) before it starts")
    if not (math.isfinite(step_seconds) and step_seconds > 0):
        raise ValueError(f"the step must be a positive number of seconds, not {step_seconds}")
    points = math.floor((end - start).total_seconds() / step_seconds) + 1
    if points > MAX_POINTS_PER_SERIES:
        raise ValueError(
            f"{points} points per series is more than Prometheus answers "
            f"({MAX_POINTS_PER_SERIES}); use step_for() for the step"
        )
    params = {
        "query": query,
        "start": _seconds(start.timestamp()),
        "end": _seconds(end.timestamp()),
        "step": _seconds(step_seconds),
    }
    root = parts._replace(path=parts.path.rstrip("/")).geturl()
    return f"{root}/api/v1/query_range?{urlencode(params)}"


def _seconds(value: float) -> str:
    """Unix seconds to the millisecond, without an exponent."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        return None  # the 3xx answer then reaches the caller as an HTTPError


_opener = urllib.request.build_opener(_NoRedirects)


def _get(url: str, base_url: str, timeout: float) -> tuple[int, str, bytes]:
    """Status, content type and body of a GET; HTTP errors are answers too."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    deadline = time.monotonic() + 2 * timeout
    try:
        try:
            response = _opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            status = response.status if response.status is not None else response.code
            if 300 <= status < 400:
                raise PrometheusError(
                    f"the server at {base_url} redirects to {response.headers.get('Location')}"
                    "; give that address as the Prometheus URL"
                )
            content_type = response.headers.get("Content-Type", "")
            return status, content_type, _read_capped(response, base_url, deadline, timeout)
    except PrometheusError:
        raise
    except urllib.error.URLError as error:
        raise PrometheusError(_unreachable(error.reason, base_url, timeout)) from error
    except (TimeoutError, OSError, http.client.HTTPException) as error:
        raise PrometheusError(_unreachable(error, base_url, timeout)) from error


def _read_capped(response: Any, base_url: str, deadline: float, timeout: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise PrometheusError(_too_big(base_url))
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(_CHUNK):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise PrometheusError(_too_big(base_url))
        if time.monotonic() > deadline:
            raise PrometheusError(
                f"Prometheus at {base_url} took longer than {2 * timeout:g} s to send its answer"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _too_big(base_url: str) -> str:
    return (
        f"the answer from {base_url} is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB; "
        "narrow the query (fewer series) or use a longer step"
    )


def _unreachable(reason: object, base_url: str, timeout: float) -> str:
    host = urlsplit(base_url).hostname
    if isinstance(reason, socket.gaierror):
        return f"could not find the Prometheus host {host!r} (DNS: {reason.strerror or reason})"
    if isinstance(reason, ConnectionRefusedError):
        return f"could not connect to Prometheus at {base_url}: the connection was refused"
    if isinstance(reason, TimeoutError):
        return f"Prometheus at {base_url} did not answer within {timeout:g} s"
    if isinstance(reason, http.client.HTTPException):
        return f"the server at {base_url} broke off its answer ({type(reason).__name__})"
    detail = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return f"could not reach Prometheus at {base_url}: {detail}"


def _decode(body: bytes) -> dict[str, Any] | None:
    """The answer of Prometheus's API, or None when the body is not one."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(answer, dict) and answer.get("status") in ("success", "error"):
        return answer
    return None


def _error_sentence(answer: dict[str, Any], status: int) -> str:
    error_type = str(answer.get("errorType") or "unknown")
    error = str(answer.get("error") or "no detail given")
    if error_type == "bad_data":
        return f"PromQL error: {error}"
    if error_type == "timeout":
        return f"Prometheus gave up on the query (timeout): {error}"
    return f"Prometheus refused the query (HTTP {status}, {error_type}): {error}"


def _samples(answer: dict[str, Any], base_url: str) -> tuple[np.ndarray, int, int]:
    """Finite sample values of every series, the number of series, the samples dropped."""
    data = answer.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("result"), list):
        raise PrometheusError(_not_prometheus(base_url))
    if data.get("resultType") != "matrix":
        raise PrometheusError(
            f"the query returned a {data.get('resultType')!r} where a range query returns a "
            "matrix (series of samples)"
        )
    numbers: list[float] = []
    for item in data["result"]:
        samples = item.get("values", []) if isinstance(item, dict) else None
        if not isinstance(samples, list):
            raise PrometheusError(_not_prometheus(base_url))
        if len(samples) > MAX_POINTS_PER_SERIES:
            raise PrometheusError(
                f"the server at {base_url} sent {len(samples)} points for one series, more "
                f"than the {MAX_POINTS_PER_SERIES} Prometheus itself answers"
            )
        for sample in samples:
            if not (isinstance(sample, list) and len(sample) == 2 and isinstance(sample[1], str)):
                raise PrometheusError(_not_prometheus(base_url))
            try:
                numbers.append(float(sample[1]))
            except ValueError:
                raise PrometheusError(_not_prometheus(base_url)) from None
    everything = np.asarray(numbers, dtype=float)
    finite = everything[np.isfinite(everything)]
    return finite, len(data["result"]), int(everything.size - finite.size)


def _not_prometheus(base_url: str) -> str:
    return f"the server at {base_url} sent JSON that is not a Prometheus range answer"
