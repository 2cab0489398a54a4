"""A Keras worker process started ahead, seen from both of its sides.

The app keeps Keras work off its UI in child processes that import TensorFlow once and
then serve requests: the full check of each edit (:mod:`.check_worker`) and previews,
sparklines and latency (``training/preview_worker.py``). They share this: the parent's
handle (start early, queue requests, poll replies without waiting, kill at once) and, in
the child, the watch that stops it once the parent is gone.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

STOP = "stop"  # a request: end the process
READY = "ready"  # a reply: TensorFlow is imported, with the seconds it took


def stop_with_parent(requests: Any) -> None:
    """In the child: a parent that dies (a crash, a kill) never says stop, so stop once it
    is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        requests.put(STOP)

    threading.Thread(target=watch, name="layerforge-parent-watch", daemon=True).start()


class WorkerProcess:
    """The parent's handle on one worker process running ``target(requests, replies)``.

    Nothing here blocks but ``wait``: requests go through a queue (a feeder thread writes
    them) and ``poll`` takes the replies that have arrived. ``stop`` kills the process at
    once: nothing it was doing is worth waiting for.
    """

    def __init__(self, target: Callable[[Any, Any], None], name: str) -> None:
        self._context = multiprocessing.get_context("spawn")  # never fork a process running Qt
        self._target, self._name = target, name
        self._process: Any = None
        self._requests: Any = None
        self._replies: Any = None
        self.ready = False
        self.import_seconds: float | None = None
        self.restarts = 0
        self.last_exitcode: int | None = None

    @property
    def started(self) -> bool:
        return self._process is not None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        """The exit code of the process that ended (None while it runs)."""
        return self._process.exitcode if self._process is not None else self.last_exitcode

    def start(self) -> None:
        self.ready = False
        self._requests = self._context.Queue()
        self._replies = self._context.Queue()
        self._process = self._context.Process(target=self._target, name=self._name,
                                              daemon=True, args=(self._requests, self._replies))
        self._process.start()

    def restart(self) -> None:
        """Start a new process after the old one died (or hung)."""
        self.last_exitcode = self.exitcode
        self.stop()
        self.restarts += 1
        self.start()

    def put(self, request: Any) -> None:
        if not self.started:
            self.start()
        self._requests.put(request)

    def poll(self) -> list[Any]:
        """The replies that have arrived (never waits); the ready signal is kept, not
        returned."""
        found: list[Any] = []
        while self._replies is not None:
            try:
                kind, value = self._replies.get_nowait()
            except (queue.Empty, OSError, EOFError):
                break
            if kind == READY:
                self.ready, self.import_seconds = True, float(value)
            else:
                found.append(value)
        return found

    def wait_for(self, wanted: Callable[[Any], bool], timeout: float,
                 pause: float = 0.02) -> Any | None:
        """Block until a reply ``wanted`` accepts arrives (tests and scripts, not the UI);
        None once the process has died or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for reply in self.poll():
                if wanted(reply):
                    return reply
            if not self.alive:
                return None
            time.sleep(pause)
        return None

    def stop(self) -> None:
        process, self._process = self._process, None
        for channel in (self._requests, self._replies):
            if channel is not None:
                channel.cancel_join_thread()  # a full pipe to a dead reader must not block exit
                channel.close()
        self._requests = self._replies = None
        self.ready = False
        if process is not None and process.pid is not None:  # a failed start has no process
            process.kill()
            process.join(timeout=1)
