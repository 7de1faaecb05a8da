"""Request bodies read whole before Django sees them: chunked ones to their end, short ones refused.

Django reads exactly CONTENT_LENGTH bytes of `wsgi.input` and ignores `wsgi.input_terminated`
(the WSGI extension by which gunicorn says its input ends where the body ends). So a
`Transfer-Encoding: chunked` body, which has no Content-Length, was read as empty, and a client
that announced more bytes than it sent before half-closing had its truncated body parsed and acted
on. `RequestBodyReader` (the WSGI application gunicorn calls, wsgi.py) reads the body first:

- chunked, on a server that terminates the input: read to its end, at most API_MAX_BODY_BYTES;
  Django then sees a plain body with its real Content-Length;
- chunked on a server that does not (runserver): 411, send a Content-Length;
- a Content-Length body (within the limit) that ends early, or a chunked body that is malformed
  or cut off: 400, and the application never sees it;
- a chunked body over the limit: 413 (a Content-Length over it is refused unread by
  ApiBodySizeLimitMiddleware).

The problem is recorded in the environ and answered by `RequestBodyErrorMiddleware`, inside
Django, so the response is the API's envelope (with its request id) under /api/.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from beo_automation.errors import (
    ErrorDescription,
    PayloadTooLargeError,
    is_api_request,
    json_error_response,
)

ENVIRON_KEY = "beo.request_body_error"

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _is_chunked(environ: dict[str, Any]) -> bool:
    codings = environ.get("HTTP_TRANSFER_ENCODING", "")
    return "chunked" in codings.lower()


def _read(stream: Any, size: int) -> bytes:
    """Up to `size` bytes: fewer only when the body (or the connection) ended."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        data = stream.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def request_body_read(environ: dict[str, Any], *, limit: int) -> ErrorDescription | None:
    """Replace `wsgi.input` by the whole body, read now; the problem with it, or None."""
    chunked = _is_chunked(environ)
    if chunked:
        if not environ.get("wsgi.input_terminated"):
            return ErrorDescription(
                411, "Length required: send the body with a Content-Length header"
            )
        expected = None
        size = limit + 1
    else:
        try:
            expected = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None  # Django refuses it (servers reject it before)
        if expected <= 0 or expected > limit:
            return None  # nothing to read, or refused unread by the body size limit
        size = expected
    try:
        body = _read(environ["wsgi.input"], size)
    except Exception:  # noqa: BLE001 - the server's own errors for a malformed or cut-off body
        return ErrorDescription(400, "Malformed or incomplete request body")
    if expected is not None and len(body) < expected:
        return ErrorDescription(
            400,
            f"Incomplete request body: {len(body)} of the {expected} bytes "
            "its Content-Length announced",
        )
    if len(body) > limit:
        return ErrorDescription(
            413, f"{PayloadTooLargeError.default_message} (more than the limit of {limit} bytes)"
        )
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return None


class RequestBodyReader:
    """WSGI middleware: read each request's body before the application (see the module)."""

    def __init__(self, application: WSGIApplication) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        problem = request_body_read(environ, limit=settings.API_MAX_BODY_BYTES)
        if problem is not None:
            environ[ENVIRON_KEY] = problem
            environ["wsgi.input"] = io.BytesIO(b"")
            environ["CONTENT_LENGTH"] = "0"
        return self.application(environ, start_response)


class RequestBodyErrorMiddleware:
    """Answer what RequestBodyReader found: the envelope under /api/, plain text elsewhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem: ErrorDescription | None = request.META.get(ENVIRON_KEY)  # META is the environ
        if problem is None:
            return self.get_response(request)
        if is_api_request(request):
            return json_error_response(request, problem)
        return HttpResponse(
            problem.message, status=problem.status, content_type="text/plain; charset=utf-8"
        )
