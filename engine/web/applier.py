"""Applying kept Twilio status callbacks from a thread of the web process.

The status endpoint keeps each callback and calls `wake()`. One thread per
process (started by the first callback, in the process that serves it, so
a forking server's workers each get their own) lets callbacks gather for
``webhooks.twilio_status_delay_ms`` and applies all of them in bulk
(`engine.services.ingesting_status`). Idle for a while, it ends; the next
callback starts another. A failure (the database away) is logged and the
callbacks stay kept: the next wake or the scheduler's ``callbacks`` tick
applies them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

IDLE_SECONDS = 5.0  # a thread with nothing to apply for this long ends


class StatusApplier:
    def __init__(self, drain: Callable[[], int], delay_seconds: float | None) -> None:
        """`delay_seconds` None: no thread; whoever keeps callbacks calls `drain` (a simulation)."""
        self._drain = drain  # applies every kept callback; returns how many
        self._delay = delay_seconds or 0.0
        self._background = delay_seconds is not None
        self._wake = threading.Event()
        self._applying = threading.Lock()  # one drain at a time in this process
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = False

    def wake(self) -> None:
        """A callback was kept: have it applied soon."""
        if not self._background:
            return
        self._wake.set()
        with self._starting:  # a thread ending checks for a wake under this lock
            if not self._closed and (self._thread is None or self._pid != os.getpid()):
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="twilio-status-applier", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """End the thread after what it is applying (kept callbacks stay kept)."""
        with self._starting:
            self._closed = True
            thread, self._thread = self._thread, None
        self._wake.set()
        if thread is not None and thread.is_alive():
            thread.join()

    def drain(self) -> int:
        """Apply every kept callback now, in the calling thread; how many."""
        with self._applying:
            return self._drain()

    def _run(self) -> None:
        while True:
            if not self._wake.wait(IDLE_SECONDS):
                with self._starting:
                    if not self._wake.is_set():
                        self._thread = None
                        return
            if self._closed:
                return
            time.sleep(self._delay)  # let a burst gather into one transaction
            self._wake.clear()
            try:
                self.drain()
            except Exception:
                log.exception("applying kept Twilio status callbacks failed; they stay kept")
                time.sleep(1.0)
