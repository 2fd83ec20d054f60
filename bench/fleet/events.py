"""Every check result the master receives, read from its API's event stream.

The master publishes each result (of a host or a service, whichever agent ran
it) on /v1/events as one line of JSON; a thread reads the stream for the whole
run and keeps, per result, what the benchmark counts: which checkable, which
agent ran it, when it started and ended, and its state.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import urllib.error
from typing import NamedTuple, Optional

QUEUE = "check-vm-fleet"
READ_TIMEOUT = 600  # a stream silent this long is dead: every agent has stopped


class Result(NamedTuple):
    """One check result as the master received it."""

    checkable: str        # "host" or "host!service"
    source: str           # check_source: the endpoint that ran it
    started: float        # execution_start
    ended: float          # execution_end
    state: int
    size: int             # bytes of output and perfdata
    problem: str          # the first line of the output when the state is not OK


def result_of(event: dict) -> Optional[Result]:
    """The Result of a CheckResult event; None for any other event."""
    result = event.get("check_result")
    if event.get("type") != "CheckResult" or not result:
        return None
    name = event["host"] + (f"!{event['service']}" if event.get("service") else "")
    perfdata = result.get("performance_data") or []
    size = len(result.get("output") or "") + sum(len(str(p)) + 1 for p in perfdata)
    state = int(result["state"])
    problem = "" if state == 0 else (result.get("output") or "").split("\n", 1)[0][:200]
    return Result(name, result.get("check_source", ""), result["execution_start"],
                  result["execution_end"], state, size, problem)


class EventRecorder:
    """Reads the master's CheckResult events in a thread until stop()."""

    def __init__(self, master) -> None:
        self._master = master
        self._response = None
        self._thread = threading.Thread(target=self._read, name="fleet-events", daemon=True)
        self._lock = threading.Lock()
        self._results: list[Result] = []
        self.error: Optional[str] = None

    def start(self) -> None:
        self._response = self._master.open_api(
            "/v1/events", {"queue": QUEUE, "types": ["CheckResult"]}, timeout=READ_TIMEOUT)
        self._thread.start()

    def results(self) -> list[Result]:
        with self._lock:
            return list(self._results)

    def stop(self, timeout: float = 10) -> None:
        """Close the stream and wait (bounded) for the thread."""
        response, self._response = self._response, None
        if response is not None:
            # close() alone does not wake a reader blocked in readline(): shut the
            # socket under it down (http.client keeps it private).
            with contextlib.suppress(OSError, AttributeError):
                response.fp.raw._sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                response.close()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def _read(self) -> None:
        response = self._response
        try:
            while response is not None:
                line = response.readline()
                if not line:
                    break
                self._keep(line)
            if self._response is not None:
                self.error = "the master closed its event stream"
        except (OSError, ValueError, AttributeError, http.client.HTTPException,
                ssl.SSLError, urllib.error.URLError) as exc:
            # AttributeError: http.client's reader, closed under it by stop()
            if self._response is not None:
                self.error = f"the event stream broke: {exc}"

    def _keep(self, line: bytes) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            result = result_of(json.loads(line))
            if result is not None:
                with self._lock:
                    self._results.append(result)
