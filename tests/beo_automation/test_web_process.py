"""The web process as the Procfile starts it (gunicorn with beo_automation.gunicorn_conf): where it
listens, its control socket, a graceful stop that answers what already arrived, and a refusal to
start without collected static files."""

from __future__ import annotations

import json
import signal
import socket
import time
from typing import Any

import pytest
import requests

from tests.server import gunicorn
from tests.subprocess_env import BIN, free_port, output_after_kill, popen, python

GUNICORN = [
    str(BIN / "gunicorn"),
    "beo_automation.wsgi",
    "-c",
    "python:beo_automation.gunicorn_conf",
]


def hold_the_worker(port: int) -> tuple[socket.socket, bytes]:
    """A request whose body is still arriving: the worker that took it reads it until the test
    sends the rest (returned). Its answer, once complete, is a 401."""
    busy = socket.create_connection(("127.0.0.1", port), timeout=30)
    body = b'{"refresh": "not-a-token"}'
    busy.sendall(
        b"POST /api/auth/token/refresh/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body[:5])
    )
    time.sleep(0.5)
    return busy, body[5:]


def _bind(**env: Any) -> str:
    result = python(
        "import json, beo_automation.gunicorn_conf as c; print(json.dumps(c.bind))", **env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_listens_on_localhost_unless_host_says_otherwise():
    # `make run` on the real stack runs the Procfile's web with DEBUG on: not on every interface.
    assert _bind(HOST=None, PORT="8123") == ["127.0.0.1:8123"]
    assert _bind(HOST="0.0.0.0", PORT="8123") == ["0.0.0.0:8123"]  # noqa: S104 - a deployment's choice


def test_health_port_adds_the_probe_lane_on_localhost_unless_health_host_says_otherwise():
    assert _bind(HOST=None, PORT="8123", HEALTH_PORT="8124") == [
        "127.0.0.1:8123",
        "127.0.0.1:8124",
    ]
    assert _bind(PORT="8123", HEALTH_PORT="8124", HEALTH_HOST="10.0.0.5")[1] == "10.0.0.5:8124"


def test_the_probe_lane_serves_only_the_monitoring_endpoints():
    lane_port = free_port()
    with gunicorn(workers=1, HEALTH_PORT=str(lane_port)) as (base, _):
        lane = f"http://127.0.0.1:{lane_port}"
        health = requests.get(f"{lane}/api/health/", timeout=30)
        live = requests.get(f"{lane}/api/health/live/", timeout=30)
        # Any other path: a 404 envelope, whatever Host the client claims.
        refused = requests.get(
            f"{lane}/api/events/",
            headers={"Host": f"127.0.0.1:{base.rsplit(':', 1)[1]}"},
            timeout=30,
        )
        admin = requests.get(f"{lane}/admin/login/", timeout=30)
        # The API's own port is unchanged.
        api = requests.get(f"{base}/api/events/", timeout=30)
        api_health = requests.get(f"{base}/api/health/", timeout=30)

    assert health.status_code in (200, 503)
    assert "checks" in health.json()
    assert live.status_code == 200
    for response in (refused, admin):
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["success"] is False
    assert api.status_code == 401
    assert api_health.status_code in (200, 503)
    assert "checks" in api_health.json()


def test_a_probe_on_the_lane_waits_for_one_request_not_the_whole_queue():
    # One worker, held by a request whose body is still arriving; three requests queue on the
    # API port, then a probe on the lane. Once the worker is free it takes one connection from
    # each ready listener in turn: the probe is the second request served, not the fourth.
    lane_port = free_port()
    with gunicorn(workers=1, HEALTH_PORT=str(lane_port), LOG_FORMAT="json") as (base, proc):
        port = int(base.rsplit(":", 1)[1])
        busy, rest = hold_the_worker(port)
        queued = []
        for target, path in [(port, "/api/health/live/")] * 3 + [(lane_port, "/api/health/")]:
            sock = socket.create_connection(("127.0.0.1", target), timeout=30)
            sock.sendall(
                b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path.encode()
            )
            queued.append(sock)
            time.sleep(0.1)  # queued in this order
        busy.sendall(rest)
        answers = [_read_all(sock) for sock in [busy, *queued]]
        proc.terminate()
        output = proc.communicate(timeout=40)[0]

    statuses = [a.split(b" ", 2)[1] for a in answers]
    # The probe's 503: this child has no migrated database; what matters is when it was served.
    assert statuses[:4] == [b"401", b"200", b"200", b"200"]
    assert statuses[4] in (b"200", b"503")
    served = [
        line["path"]
        for line in map(_json_or_none, output.splitlines())
        if line and line.get("event") == "request_finished"
    ][-5:]  # before them: the readiness polls of tests/server.py
    assert served == [
        "/api/auth/token/refresh/",
        "/api/health/live/",
        "/api/health/",
        "/api/health/live/",
        "/api/health/live/",
    ], output[-3000:]


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def test_workers_recycle_at_points_spread_over_half_the_interval():
    # Two workers sharing the load reach max_requests together: gunicorn adds
    # randint(0, jitter) per worker, so a jitter of half the interval keeps their restarts
    # apart (both restarting at once left no worker to answer /api/health/).
    result = python(
        "import json, beo_automation.gunicorn_conf as c;"
        " print(json.dumps([c.max_requests, c.max_requests_jitter]))",
        WEB_MAX_REQUESTS="4000",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [4000, 2000]


def _wait_until_serving(port: int, proc) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/health/live/", timeout=2)
            return
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"gunicorn did not start:\n{output_after_kill(proc)}"
                ) from None
            time.sleep(0.2)


def _stop(proc) -> None:
    proc.terminate()
    proc.wait(timeout=40)


def test_no_control_socket_at_the_per_user_default(tmp_path):
    """gunicorn 27 would put one at $XDG_RUNTIME_DIR/gunicorn.ctl (or ~/.gunicorn/): a second
    instance on the host would take it over. The configuration turns it off..."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    port = free_port()
    proc = popen(
        [*GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        HOME=str(tmp_path),
        XDG_RUNTIME_DIR=str(runtime),
        GUNICORN_CONTROL_SOCKET=None,
    )
    try:
        _wait_until_serving(port, proc)
        assert sorted(p.name for p in tmp_path.rglob("*.ctl")) == []
    finally:
        _stop(proc)


def test_an_instance_can_have_a_control_socket_of_its_own(tmp_path):
    """...unless GUNICORN_CONTROL_SOCKET gives this instance its own path."""
    own = tmp_path / "web-a.ctl"
    port = free_port()
    proc = popen(
        [*GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        HOME=str(tmp_path),
        XDG_RUNTIME_DIR=None,
        GUNICORN_CONTROL_SOCKET=str(own),
    )
    try:
        _wait_until_serving(port, proc)
        deadline = time.monotonic() + 10
        while not own.is_socket() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert own.is_socket()
        assert not (tmp_path / ".gunicorn").exists()
    finally:
        _stop(proc)


def test_without_collected_static_files_it_refuses_to_start_and_names_the_fix(tmp_path):
    empty = tmp_path / "static"
    empty.mkdir()
    proc = popen(
        [*GUNICORN, "--bind", f"127.0.0.1:{free_port()}", "--workers", "1", "--no-control-socket"],
        STATIC_ROOT=str(empty),
        DEBUG="false",
    )
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read() if proc.stdout else ""
    assert code != 0
    assert "run `python manage.py collectstatic --no-input`" in output
    assert str(empty / "staticfiles.json") in output


def _read_all(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_a_graceful_stop_answers_the_request_in_flight_and_those_queued_behind_it():
    with gunicorn(workers=1) as (base, proc):
        port = int(base.rsplit(":", 1)[1])
        # In flight: the only worker is reading this body when the stop begins.
        busy, rest = hold_the_worker(port)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # Just arrived: the kernel accepted these after the signal, while the worker was busy.
        queued = []
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(b"GET /api/health/live/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            queued.append(sock)
        busy.sendall(rest)

        in_flight = _read_all(busy)
        answers = [_read_all(sock) for sock in queued]  # a reset would raise here
        assert proc.wait(timeout=40) == 0
        output = proc.stdout.read() if proc.stdout else ""

    assert in_flight.startswith(b"HTTP/1.1 401"), in_flight[:200]
    assert [a.split(b"\r\n", 1)[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 5
    assert all(b"Connection: close" in a for a in answers)
    assert "Served 5 connection(s) queued when the stop began" in output
    # Once stopped, a client is refused before it can send anything.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
