"""The web process's gunicorn worker: gunicorn's sync worker with a graceful stop that answers
the connections the kernel already queued for it.

On SIGTERM gunicorn's master closes its copy of the listening socket and each worker leaves its
accept loop after the request in hand. Connections that completed their TCP handshake in the
meantime sit in the listen queue, and when the last process closes the socket the kernel resets
them: a client that had already sent a request gets "connection reset" and cannot tell whether it
was acted on. This worker, once told to stop, serves every connection still queued (each answered
with `Connection: close`), then closes its listeners, so later clients are refused at connect time
(before they send anything) instead of reset after sending. See docs/deployment.md.
"""

from __future__ import annotations

import errno
import select
import time
from types import FrameType

from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker


class SyncWorker(GunicornSyncWorker):
    stopping = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Only a stop drains the queue: a worker recycled by max_requests leaves it to the others.
        self.stopping = True
        super().handle_exit(sig, frame)

    def run(self) -> None:
        super().run()
        if self.stopping:
            self.serve_queued_connections()

    def serve_queued_connections(self) -> None:
        """Answer what is queued on the listeners until none is left, then close them.

        Bounded by the graceful timeout, after which the master kills the worker anyway.
        """
        deadline = time.monotonic() + self.cfg.graceful_timeout
        served = 0
        while time.monotonic() < deadline:
            self.notify()  # still alive for the master's WORKER TIMEOUT watch
            ready, _, _ = select.select(self.sockets, [], [], 0)
            if not ready:
                break
            for listener in ready:
                try:
                    self.accept(listener)
                    served += 1
                except OSError as error:
                    if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                        raise
        for listener in self.sockets:
            listener.close()
        if served:
            self.log.info("Served %d connection(s) queued when the stop began", served)
