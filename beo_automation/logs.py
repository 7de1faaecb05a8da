"""Structured logging: one JSON object per line (or a readable console in development).

Levels follow the operations guide: error, warn, info, http, debug. `http` is a real level
(15) between debug and info; the per-request access line is logged at it, so production
at `info` stays quiet while `LOG_LEVEL=http` shows every request.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import logging.handlers
import os
import queue
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

HTTP = 15
logging.addLevelName(HTTP, "HTTP")

LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "http": HTTP,
    "debug": logging.DEBUG,
}


def parse_level(name: str) -> int:
    try:
        return LEVELS[name.strip().lower()]
    except KeyError:
        choices = ", ".join(k for k in LEVELS if k != "warning")
        raise ValueError(f"LOG_LEVEL={name!r} is not one of: {choices}") from None


class BoundLogger(structlog.stdlib.BoundLogger):
    """structlog's stdlib logger plus the `http` level, which structlog does not know."""

    def http(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if not self._logger.isEnabledFor(HTTP):
            return None
        if args:
            kw["positional_args"] = args
        ev_args, ev_kw = self._process_event("http", event, kw)
        return self._logger.log(HTTP, *ev_args, **ev_kw)

    def log(self, level: int, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if level == HTTP:
            return self.http(event, *args, **kw)
        return super().log(level, event, *args, **kw)


def _static_fields(service: str, environment: str) -> Processor:
    def add(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        event_dict.setdefault("environment", environment)
        return event_dict

    return add


def _level_from_method(_: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    # structlog maps method names ("warning", "exception"); the guide's vocabulary says "warn".
    level = event_dict.get("level")
    if level == "warning":
        event_dict["level"] = "warn"
    elif level == "critical":
        event_dict["level"] = "error"
    return event_dict


LEADING_KEYS = ("timestamp", "level", "event", "service", "environment", "request_id")


def _leading_keys_first(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Readers scan the same few fields on every line: put them first.
    ordered = {k: event_dict.pop(k) for k in LEADING_KEYS if k in event_dict}
    ordered.update(event_dict)
    return ordered


def _timestamp(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # structlog's TimeStamper(fmt="iso", utc=True), except that a stdlib record (Celery's,
    # Django's) keeps the time it was logged at: behind a worker's queue it is formatted later.
    record = event_dict.get("_record")
    moment = (
        datetime.fromtimestamp(record.created, tz=UTC) if record is not None else datetime.now(UTC)
    )
    event_dict["timestamp"] = moment.isoformat().replace("+00:00", "Z")
    return event_dict


def shared_processors(*, service: str, environment: str) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        _level_from_method,
        structlog.stdlib.ExtraAdder(),
        structlog.stdlib.PositionalArgumentsFormatter(),
        _timestamp,
        _static_fields(service, environment),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.UnicodeDecoder(),
    ]


_METHOD_LEVELS = {
    "debug": logging.DEBUG,
    "http": HTTP,
    "info": logging.INFO,
    "msg": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _drop_below_level(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    # First in the chain: a line the logger would discard (request_started at debug, the
    # access line at http when LOG_LEVEL=info) costs one dict lookup instead of the whole
    # processor chain on every request.
    level = _METHOD_LEVELS.get(method_name)
    if level is not None and not logger.isEnabledFor(level):
        raise structlog.DropEvent
    return event_dict


def configure_structlog(*, service: str, environment: str) -> None:
    structlog.configure(
        processors=[
            _drop_below_level,
            *shared_processors(service=service, environment=environment),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=BoundLogger,
        cache_logger_on_first_use=True,
    )


def build_logging_config(
    *,
    level: int,
    log_dir: Path | None,
    console_format: str,
    service: str,
    environment: str,
    max_bytes: int,
    backup_count: int,
) -> dict[str, Any]:
    """The `LOGGING` dict: console + rotated `error.log` (errors only) and `combined.log`."""
    pre_chain = shared_processors(service=service, environment=environment)
    formatters: dict[str, Any] = {
        "json": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _leading_keys_first,
                structlog.processors.JSONRenderer(sort_keys=False, default=str),
            ],
            "foreign_pre_chain": pre_chain,
        },
        "console": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.dev.ConsoleRenderer(colors=False, sort_keys=False),
            ],
            "foreign_pre_chain": pre_chain,
        },
    }
    handlers: dict[str, Any] = {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "console" if console_format == "console" else "json",
        },
    }
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        rotating = {
            # Safe rotation with several processes writing the same file.
            "class": "concurrent_log_handler.ConcurrentRotatingFileHandler",
            "formatter": "json",
            "maxBytes": max_bytes,
            "backupCount": backup_count,
            "encoding": "utf-8",
            "use_gzip": False,
        }
        handlers["combined_file"] = {**rotating, "filename": str(log_dir / "combined.log")}
        handlers["error_file"] = {
            **rotating,
            "filename": str(log_dir / "error.log"),
            "level": "ERROR",
        }
    root_handlers = list(handlers)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": handlers,
        "root": {"handlers": root_handlers, "level": level},
        "loggers": {
            # Request failures are logged once, by django-structlog's request_failed
            # (with request_id and stack) or by the API error handler.
            "django.request": {"level": "CRITICAL"},
            # runserver's own access line duplicates ours.
            "django.server": {"level": "ERROR"},
            # SQL text and duration at debug (enabled per connection in apps.py).
            "django.db.backends": {"level": level},
            "celery": {"level": max(level, logging.INFO)},
            "kombu": {"level": max(level, logging.WARNING)},
            "amqp": {"level": max(level, logging.WARNING)},
            "urllib3": {"level": max(level, logging.WARNING)},
            "asyncio": {"level": max(level, logging.WARNING)},
            "health_check": {"level": max(level, logging.ERROR)},
            "portalocker": {"level": max(level, logging.WARNING)},
            # django-axes' "BEGIN version …" banner at every process start: noise before each
            # operator command's own output.
            "axes.apps": {"level": max(level, logging.WARNING)},
        },
    }


# --- Operator commands on a terminal -------------------------------------------------------


def logging_for_terminal(*, stdout: Any) -> bool:
    """An operator at a terminal reads the command's own lines on stdout; the same lines again
    as JSON on stderr are noise. When both stdout and the console handler's stream are
    terminals, that handler shows only warnings and errors, readably. Log files keep every
    line as JSON; a command under cron or a pipe is unchanged. True if it changed anything."""
    if not (hasattr(stdout, "isatty") and stdout.isatty()):
        return False
    changed = False
    for handler in logging.getLogger().handlers:
        targets = handler.targets if isinstance(handler, QueueingHandler) else [handler]
        for target in targets:
            # Exactly StreamHandler: file handlers are StreamHandler subclasses.
            if type(target) is not logging.StreamHandler:
                continue
            isatty = getattr(getattr(target, "stream", None), "isatty", None)
            if isatty is None or not isatty():
                continue
            target.setLevel(max(target.level, logging.WARNING))
            old = target.formatter
            target.setFormatter(
                structlog.stdlib.ProcessorFormatter(
                    processors=[
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.dev.ConsoleRenderer(colors=False, sort_keys=False),
                    ],
                    foreign_pre_chain=getattr(old, "foreign_pre_chain", None),
                )
            )
            changed = True
    return changed


# --- Worker logging through a queue ---------------------------------------------------------


class _ContextQueueListener(logging.handlers.QueueListener):
    """Formats and writes each record in the context it was logged in (request_id, task_id)."""

    def handle(self, record: logging.LogRecord) -> None:
        context = record.__dict__.pop("log_context", None)
        if context is None:
            super().handle(record)
        else:
            context.run(super().handle, record)


class QueueingHandler(logging.handlers.QueueHandler):
    """Hands each record to a listener thread that owns the real handlers (formatting, the
    file lock, the write), so the logging call returns without waiting for any of them.

    Each process gets its own queue and listener on its first record: a forked pool process
    inherits this handler but not the parent's thread. `drain` writes every queued record and
    makes later ones synchronous; call it before the process exits (`logging_queue_drain`).
    """

    def __init__(self, handlers: list[logging.Handler]) -> None:
        super().__init__(queue.SimpleQueue())
        self.targets = handlers
        self._listener: _ContextQueueListener | None = None
        self._pid = 0
        self._drained = False

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Unlike the stdlib's prepare(), keep the record whole (the listener is in this
        # process): the real formatter then renders exactly the line it would have.
        record.log_context = contextvars.copy_context()
        event = record.msg
        if isinstance(event, dict) and event.get("exc_info") not in (None, False):
            # logger.exception() / exc_info=True mean "the exception being handled": resolve
            # it here, where it is (format_exc_info would look in the listener's thread).
            exc_info = event["exc_info"]
            if not isinstance(exc_info, tuple | BaseException):
                event["exc_info"] = sys.exc_info()
        return record

    def emit(self, record: logging.LogRecord) -> None:
        if self._pid != os.getpid():
            self._pid, self._drained = os.getpid(), False
            self.queue = queue.SimpleQueue()
            self._listener = _ContextQueueListener(
                self.queue, *self.targets, respect_handler_level=True
            )
            self._listener.start()
        if self._drained and self._listener is not None:
            self._listener.handle(self.prepare(record))  # shutting down: write it now
            return
        super().emit(record)

    def drain(self) -> None:
        self.acquire()
        try:
            if self._pid != os.getpid() or self._drained or self._listener is None:
                return
            self._drained = True
            self._listener.stop()  # returns once every record queued before it is written
        finally:
            self.release()

    def close(self) -> None:
        self.drain()
        super().close()


def logging_queue_start() -> None:
    """Move the root logger's handlers behind a QueueingHandler (Celery worker processes)."""
    root = logging.getLogger()
    if any(isinstance(h, QueueingHandler) for h in root.handlers):
        return
    handlers = list(root.handlers)
    for handler in handlers:
        root.removeHandler(handler)
    root.addHandler(QueueingHandler(handlers))
    atexit.register(logging_queue_drain)


def logging_queue_drain() -> None:
    """Write every queued line of this process; later lines are written synchronously."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, QueueingHandler):
            handler.drain()


class profile(contextlib.ContextDecorator):  # noqa: N801 - reads like the guide's profile()
    """Log how long a block or a function took, at debug.

    with profile("archive batch"):
        ...

    @profile("event processing")
    def process(...): ...
    """

    def __init__(self, label: str, **fields: Any) -> None:
        self.label = label
        self.fields = fields
        self._start = 0.0

    def _recreate_cm(self) -> profile:
        # A fresh timer per call, so a decorated function is safe to run in several threads.
        return profile(self.label, **self.fields)

    def __enter__(self) -> profile:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        duration_ms = round((time.perf_counter() - self._start) * 1000, 3)
        structlog.get_logger("beo_automation.profile").debug(
            f"[Profile] {self.label}", duration_ms=duration_ms, **self.fields
        )
