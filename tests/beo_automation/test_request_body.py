"""Request bodies as a real gunicorn receives them, over raw sockets: chunked bodies are read to
their end, a body cut short is refused and never acted on, and the size limit holds for both."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from wsgiref.util import setup_testing_defaults

import pytest
from django.db import connection

from events.models import Event
from tests.conftest import bearer
from tests.server import gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def base(django_db_setup, django_db_blocker) -> Iterator[str]:
    """One gunicorn on this run's test database for the module (its tables are emptied between
    tests, the server's pooled connections stay valid)."""
    database = connection.settings_dict["NAME"]  # the test database, once set up
    with gunicorn(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}", API_MAX_BODY_BYTES="2000"
    ) as (url, _):
        yield url


def _exchange(base: str, head: str, body: bytes = b"", *, half_close: bool = True) -> tuple:
    """Send `head` and `body`, half-close, read the whole answer: (status, headers, json)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head_bytes, _, content = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    if headers.get("Transfer-Encoding") == "chunked":
        content = _dechunk(content)
    return int(status_line.split()[1]), headers, json.loads(content) if content else None


def _dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, data = out + data[:size], data[size + 2 :]


def _chunked(data: bytes, size: int = 7) -> bytes:
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def _post_head(user, *, framing: str, path: str = "/api/events/") -> str:
    return (
        f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nAuthorization: {bearer(user)}\n"
        f"Content-Type: application/json\n{framing}\nConnection: close\n"
    )


def _assert_envelope(answer: tuple, status: int) -> dict:
    code, headers, body = answer
    assert code == status, body
    assert headers["Content-Type"] == "application/json"
    assert body["success"] is False
    assert body["error"]["code"] == status
    assert body["error"]["message"]
    return body["error"]


def test_a_chunked_event_is_read_whole_and_stored(base, user):
    event = json.dumps({"type": "beo.chunked", "payload": {"guests": 120}}).encode()
    status, _, body = _exchange(
        base, _post_head(user, framing="Transfer-Encoding: chunked"), _chunked(event)
    )
    assert status == 201, body
    stored = Event.objects.get(type="beo.chunked")
    assert stored.payload == {"guests": 120}


def test_a_body_shorter_than_its_content_length_is_refused_and_not_stored(base, user):
    event = json.dumps({"type": "beo.truncated", "payload": {}}).encode()
    padded_length = len(event) + 40  # the announced rest never comes: the client half-closes
    answer = _exchange(base, _post_head(user, framing=f"Content-Length: {padded_length}"), event)
    error = _assert_envelope(answer, 400)
    assert f"{len(event)} of the {padded_length} bytes" in error["message"]
    assert not Event.objects.filter(type="beo.truncated").exists()


def test_a_chunked_body_cut_off_before_its_last_chunk_is_refused_and_not_stored(base, user):
    event = json.dumps({"type": "beo.cutoff", "payload": {}}).encode()
    cut = _chunked(event)[: -len(b"0\r\n\r\n")]  # every data chunk, no terminating chunk
    answer = _exchange(base, _post_head(user, framing="Transfer-Encoding: chunked"), cut)
    _assert_envelope(answer, 400)
    assert not Event.objects.filter(type="beo.cutoff").exists()


def test_a_chunked_body_over_the_limit_is_413(base, user):
    big = json.dumps({"type": "beo.big", "payload": {"x": "a" * 3000}}).encode()
    answer = _exchange(
        base, _post_head(user, framing="Transfer-Encoding: chunked"), _chunked(big, 512)
    )
    error = _assert_envelope(answer, 413)
    assert "2000 bytes" in error["message"]
    assert not Event.objects.filter(type="beo.big").exists()


def test_a_chunked_bulk_request_is_read_whole(base, user):
    events = [{"type": "beo.bulk-chunked", "payload": {"row": i}} for i in range(5)]
    status, _, body = _exchange(
        base,
        _post_head(user, framing="Transfer-Encoding: chunked", path="/api/events/bulk/"),
        _chunked(json.dumps(events).encode(), 16),
    )
    assert status == 201, body
    assert Event.objects.filter(type="beo.bulk-chunked").count() == 5


def test_a_server_that_does_not_terminate_chunked_input_gets_411():
    # runserver (make run's embedded mode) hands Django the raw chunked stream: refuse it.
    from beo_automation.wsgi import application

    environ: dict = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/events/",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(_chunked(b'{"type": "beo.x", "payload": {}}')),
    }
    setup_testing_defaults(environ)
    environ["SERVER_NAME"] = "127.0.0.1"
    captured: list[str] = []
    body = b"".join(application(environ, lambda status, headers: captured.append(status)))
    assert captured[0].startswith("411")
    error = json.loads(body)["error"]
    assert error["code"] == 411
    assert "Content-Length" in error["message"]
