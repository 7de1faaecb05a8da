"""beo_automation/deploy/nginx.conf in front of a real gunicorn: slow clients (half a header,
half a body, or nothing at all), many more than there are workers, do not make the API
unreachable."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.server import gunicorn
from tests.subprocess_env import ROOT, free_port, output_after_kill

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db,  # so the run sets up its test database, which the server uses
    pytest.mark.skipif(
        not Path(NGINX).exists() and os.environ.get("CI") != "true",
        reason="needs nginx (apt-get install nginx-light; .ci/run does)",
    ),
]

SLOW_CLIENTS = 24  # the web process below has 2 sync workers: 12 times as many


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, django_db_setup) -> Iterator[tuple[str, str]]:
    """(nginx URL, gunicorn URL): the shipped configuration, with only the two ports changed,
    in front of gunicorn on this run's test database."""
    prefix = tmp_path_factory.mktemp("nginx")
    (prefix / "tmp").mkdir()
    database = connection.settings_dict["NAME"]  # the test database, once set up
    with gunicorn(workers=2, DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}") as (
        upstream,
        _,
    ):
        port = free_port()
        conf = (ROOT / "beo_automation" / "deploy" / "nginx.conf").read_text()
        conf = conf.replace("server 127.0.0.1:8000;", f"server {upstream.removeprefix('http://')};")
        conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
        (prefix / "nginx.conf").write_text(conf)
        proc = subprocess.Popen(
            [
                NGINX,
                "-p",
                str(prefix),
                "-c",
                str(prefix / "nginx.conf"),
                "-e",
                "stderr",
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    requests.get(f"{base}/api/health/live/", timeout=2)
                    break
                except requests.RequestException:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"nginx did not start:\n{output_after_kill(proc)}"
                        ) from None
                    time.sleep(0.1)
            yield base, upstream
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def _slow_clients(base: str) -> list[socket.socket]:
    host, port = base.removeprefix("http://").split(":")
    kinds = [
        b"GET /api/health/live/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ",  # half a header
        b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
        b'\r\nContent-Length: 100\r\n\r\n{"username": ',  # a tenth of its body
        b"",  # connects and says nothing
    ]
    sockets = []
    for i in range(SLOW_CLIENTS):
        sock = socket.create_connection((host, int(port)), timeout=10)
        if kinds[i % 3]:
            sock.sendall(kinds[i % 3])
        sockets.append(sock)
    return sockets


def test_slow_clients_do_not_hold_the_workers(proxied):
    base, _ = proxied
    slow = _slow_clients(base)
    try:
        time.sleep(1)  # they all reached nginx (and would have reached gunicorn by now)
        for _ in range(5):
            response = requests.get(f"{base}/api/health/live/", timeout=5)
            assert response.status_code == 200
        # A request with a body is served too, while the half-bodies wait.
        response = requests.post(
            f"{base}/api/auth/token/", json={"username": "nobody", "password": "x"}, timeout=5
        )
        assert response.status_code == 401
        assert response.json()["success"] is False
    finally:
        for sock in slow:
            sock.close()


def test_a_chunked_body_reaches_the_app_whole(proxied):
    base, _ = proxied
    body = json.dumps({"username": "nobody", "password": "x"}).encode()
    response = requests.post(
        f"{base}/api/auth/token/",
        data=iter([body[:7], body[7:]]),  # a generator body: requests sends it chunked
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == 401


def test_a_body_over_the_proxy_limit_gets_the_envelope_not_html(proxied):
    base, _ = proxied
    response = requests.post(
        f"{base}/api/events/",
        data=b"x" * (3 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "success": False,
        "error": {"code": 413, "message": "Request body too large"},
    }
