"""Structured JSON logs: levels, files, the access line, SQL at debug, profile()."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import structlog

from beo_automation.logs import HTTP, parse_level, profile
from tests.logs import log_lines, wait_for_line
from tests.subprocess_env import manage

logger = structlog.get_logger("tests.logging")


@pytest.mark.parametrize(
    ("name", "level"),
    [("error", 40), ("warn", 30), ("info", 20), ("http", 15), ("debug", 10), ("INFO", 20)],
)
def test_log_levels_follow_the_guide(name, level):
    assert parse_level(name) == level


def test_an_unknown_log_level_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="error, warn, info, http, debug"):
        parse_level("verbose")


def test_http_is_a_real_level_between_debug_and_info():
    assert logging.DEBUG < HTTP < logging.INFO
    assert logging.getLevelName(HTTP) == "HTTP"


def test_error_log_receives_only_errors_and_combined_receives_everything():
    marker = uuid.uuid4().hex
    logger.http("an http line", marker=marker)
    logger.info("an info line", marker=marker)
    logger.warning("a warning line", marker=marker)
    logger.error("an error line", marker=marker)
    logging.getLogger("some.stdlib.module").error("stdlib error %s", marker)

    combined = [line for line in log_lines("combined.log") if marker in json.dumps(line)]
    errors = [line for line in log_lines("error.log") if marker in json.dumps(line)]

    assert [line["level"] for line in combined] == ["http", "info", "warn", "error", "error"]
    assert [line["level"] for line in errors] == ["error", "error"]
    assert {line["event"] for line in errors} == {"an error line", f"stdlib error {marker}"}
    for line in combined:
        assert line["service"] == "beo-automation"
        assert line["environment"] == "test"
        assert "timestamp" in line


def test_exceptions_are_logged_with_their_stack():
    marker = uuid.uuid4().hex
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("Failed to process event", marker=marker)
    line = wait_for_line(lambda entry: entry.get("marker") == marker, name="error.log")
    assert "Traceback" in line["exception"]
    assert "ValueError: boom" in line["exception"]


@pytest.mark.django_db
@pytest.mark.urls("tests.beo_automation.urls")
def test_an_unhandled_api_error_is_logged_with_stack_path_method_and_request_id(client):
    request_id = f"err-{uuid.uuid4().hex[:8]}"
    client.get("/api/test/raise/crash/", HTTP_X_REQUEST_ID=request_id)
    line = wait_for_line(
        lambda entry: entry.get("request_id") == request_id and entry["level"] == "error",
        name="error.log",
    )
    assert line["path"] == "/api/test/raise/crash/"
    assert line["method"] == "GET"
    assert "RuntimeError: database password is hunter2" in line["exception"]


def test_profile_logs_the_duration_at_debug(caplog):
    marker = uuid.uuid4().hex
    with caplog.at_level(logging.DEBUG, logger="beo_automation.profile"):
        with profile("archive batch", marker=marker):
            pass

        @profile("decorated work")
        def work() -> int:
            return 7

        assert work() == 7
    records = [r for r in caplog.records if r.name == "beo_automation.profile"]
    events = [r.msg["event"] for r in records]
    assert events == ["[Profile] archive batch", "[Profile] decorated work"]
    assert all(r.levelno == logging.DEBUG for r in records)
    assert all(r.msg["duration_ms"] >= 0 for r in records)


def test_log_level_debug_logs_sql_with_its_duration(tmp_path):
    result = manage(
        "shell",
        "-c",
        "from django.db import connection; connection.cursor().execute(\"SELECT 'sql-probe'\")",
        LOG_LEVEL="debug",
        LOG_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(raw) for raw in (tmp_path / "combined.log").read_text().splitlines()]
    sql = [line for line in lines if "sql-probe" in json.dumps(line) and "sql" in line]
    assert sql, "no SQL line logged at debug"
    assert sql[0]["level"] == "debug"
    assert sql[0]["sql"] == "SELECT 'sql-probe'"
    assert isinstance(sql[0]["duration"], float)


def test_log_level_info_does_not_log_sql(tmp_path):
    result = manage(
        "shell",
        "-c",
        "from django.db import connection; connection.cursor().execute(\"SELECT 'sql-probe'\")",
        LOG_LEVEL="info",
        LOG_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "combined.log").read_text() if (tmp_path / "combined.log").exists() else ""
    assert "sql-probe" not in text


def test_console_format_is_human_readable():
    result = manage(
        "shell",
        "-c",
        "import structlog; structlog.get_logger('x').warning('readable line', k=1)",
        LOG_FORMAT="console",
        LOG_DIR="",
    )
    assert result.returncode == 0, result.stderr
    assert "readable line" in result.stderr
    assert not result.stderr.lstrip().startswith("{")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_stopped_by_sigterm_writes_every_line_it_logged(user, tmp_path):
    """Worker processes log through a queue (beo_automation.logs.QueueingHandler): on SIGTERM
    every line logged before it is in the file, in the same JSON as a direct write."""
    from events.services import EventInput, event_create
    from tests.events.workers import wait_for, worker_process

    run, count = uuid.uuid4().hex, 20_000
    marker = tmp_path / "logged"
    log_dir = tmp_path / "logs"
    with worker_process({"LOG_DIR": str(log_dir), "LOG_LEVEL": "info"}) as worker:
        event_create(
            owner=user,
            item=EventInput(
                type="worker.log",
                payload={"log_lines": count, "run": run, "marker": str(marker)},
            ),
        )
        wait_for(marker.exists, timeout=60, what="the lines logged", worker=worker, every=0.01)
        worker.terminate()
        assert worker.proc.wait(timeout=60) == 0, worker.output

    lines = [json.loads(line) for line in (log_dir / "combined.log").read_text().splitlines()]
    ours = [line for line in lines if line.get("run") == run and "n" in line]
    assert [line["n"] for line in ours] == list(range(count))
    # logger.exception() in a task: the stack of the exception it handled, not the listener's.
    (failed,) = [line for line in lines if line["event"] == "worker log exception"]
    assert "Traceback" in failed["exception"]
    assert f"ValueError: boom {run}" in failed["exception"]
    first = ours[0]
    assert list(first)[:5] == ["timestamp", "level", "event", "service", "environment"]
    assert (first["level"], first["event"], first["logger"]) == (
        "info",
        "worker log line",
        "tests.worker",
    )
    # Written by the listener thread, in the task's context: django-structlog's task_id.
    assert {line["task_id"] for line in ours} == {first["task_id"]}
    # Celery's own (stdlib) lines keep the time they were logged at, in structlog's format.
    received = next(line for line in lines if "received" in line["event"])
    assert received["timestamp"].endswith("Z")
    assert received["timestamp"] <= first["timestamp"]
