"""A loopback InfluxDB stand-in: receives what Icinga's InfluxdbWriter sends.

Icinga parses every check result's perfdata only in its metric writers; the
InfluxdbWriter sends each parsed value with its unit and thresholds, plus one
metadata point per check result (state, attempt, execution time). So the
points show what Icinga made of the plugins' output, result by result.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional


@dataclass(frozen=True)
class Point:
    """One line of InfluxDB line protocol."""

    measurement: str
    tags: dict
    fields: dict
    timestamp: int

    @property
    def service(self) -> Optional[str]:
        """`host!service`, or the host name for a host check's point."""
        host, service = self.tags.get("hostname"), self.tags.get("service")
        return f"{host}!{service}" if service else host

    @property
    def label(self) -> Optional[str]:
        """The perfdata label, or None for a metadata point."""
        return self.tags.get("metric")


# Icinga escapes only these with a backslash; any other backslash is literal.
_ESCAPED = frozenset('"=, ')


def _tokens(text: str):
    """(char, escaped) pairs, as Icinga's EscapeKeyOrTagValue wrote them."""
    position = 0
    while position < len(text):
        char = text[position]
        if char == "\\" and text[position + 1:position + 2] in _ESCAPED:
            yield text[position + 1], True
            position += 2
        else:
            yield char, False
            position += 1


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` where it is neither escaped nor inside double quotes."""
    parts, current, quoted = [], [], False
    for char, escaped in _tokens(text):
        if escaped:
            current.append("\\" + char)
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return "".join(char for char, _escaped in _tokens(text))


def _split_once(text: str) -> tuple[str, str]:
    """key=value, where the value may itself contain (quoted or escaped) `=`."""
    parts = _split(text, "=")
    return parts[0], "=".join(parts[1:])


def _field_value(raw: str):
    if raw.startswith('"'):
        return _unescape(raw[1:-1])
    if raw in ("true", "false"):
        return raw == "true"
    if raw.endswith("i"):
        return int(raw[:-1])
    return float(raw)


def parse_line(line: str) -> Point:
    """Parse one line as Icinga writes it: measurement,tags fields timestamp."""
    head, fields, timestamp = _split(line, " ")
    measurement, *tags = _split(head, ",")
    tag_dict = {_unescape(key): _unescape(value)
                for key, value in (_split_once(tag) for tag in tags)}
    field_dict = {_unescape(key): _field_value(value)
                  for key, value in (_split_once(field) for field in _split(fields, ","))}
    return Point(_unescape(measurement), tag_dict, field_dict, int(timestamp))


class InfluxSink:
    """An HTTP server on 127.0.0.1 that keeps every line POSTed to /write."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> InfluxSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def points(self) -> list[Point]:
        """Every point received so far, in arrival order."""
        with self._lock:
            lines = list(self._lines)
        return [parse_line(line) for line in lines]

    def _keep(self, body: str) -> None:
        with self._lock:
            self._lines.extend(line for line in body.splitlines() if line.strip())

    def _handler_class(self):
        sink = self

        class Handler(BaseHTTPRequestHandler):
            """Accepts /write like InfluxDB 1.x: 204 No Content."""

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                sink._keep(self.rfile.read(length).decode())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler
