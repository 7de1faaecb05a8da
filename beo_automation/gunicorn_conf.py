"""gunicorn configuration for the Procfile's web process.

`gunicorn beo_automation.wsgi -c python:beo_automation.gunicorn_conf`

Two sync workers by default: on a 2-core machine they beat more workers or gthread for this
workload. Sync workers must sit behind a buffering reverse proxy
(beo_automation/deploy/nginx.conf): a slow client holds a worker for as long as it takes to
send its request. Hence the default bind is
127.0.0.1; a deployment that publishes gunicorn itself sets HOST. SIGTERM is a graceful stop:
workers finish their request and the ones already queued (beo_automation.gunicorn_worker), then
close their database connections (worker_exit) before the master exits 0. docs/deployment.md.
"""

from __future__ import annotations

import os
from typing import Any

bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"]
# The probe lane (beo_automation/probe_lane.py): health and metrics on a listener of their own,
# answered within one request of arriving however long the API's queue is.
if os.environ.get("HEALTH_PORT", "").strip():
    bind.append(f"{os.environ.get('HEALTH_HOST', '127.0.0.1')}:{os.environ['HEALTH_PORT'].strip()}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "beo_automation.gunicorn_worker.SyncWorker"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound. The jitter spreads
# the workers' recycles over half the interval: workers that share the load reach the same
# count together, and a small jitter restarted them within a second of each other, leaving
# no worker to answer (health-check spikes of seconds under load).
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 2
# Our own access line (level http, with request_id and duration) replaces gunicorn's.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Load the app in each worker, not the master: pools and sockets must not be shared by fork.
preload_app = False
# gunicorn 27's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): a second
# instance on the host would take it over. Off unless GUNICORN_CONTROL_SOCKET names this
# instance's own path.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True


def worker_int(worker: Any) -> None:
    worker.log.info("worker received SIGINT/SIGQUIT")


def worker_exit(server: Any, worker: Any) -> None:
    from beo_automation.lifecycle import close_database_connections

    close_database_connections(reason="gunicorn worker exit (SIGTERM)")
