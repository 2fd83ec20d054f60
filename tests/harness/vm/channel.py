"""Line-based command channel to the guest's init over its second serial port.

QEMU binds the guest's ttyS1 to a unix socket and serves one client at a time;
the guest drops whatever it writes while no client is connected, so every
command holds its own connection until the guest's reply has arrived.
"""

import socket
import threading
import time


class ChannelError(Exception):
    """The command channel did not deliver a reply."""


class ChannelTimeout(ChannelError):
    """The guest did not answer in time (or the socket is not there yet)."""


class GuestCommandFailed(ChannelError):
    """The guest answered, but with an error instead of `done`."""


class CommandChannel:
    """Send one command line to the guest and wait for its one-line reply."""

    def __init__(self, socket_path):
        self.socket_path = str(socket_path)
        self._lock = threading.Lock()

    def command(self, line, timeout=60):
        """Run `line` in the guest; return its reply ("done", or "done DATA" for
        commands that answer with data) or raise ChannelError."""
        deadline = time.monotonic() + timeout
        with self._lock, self._connect(line, timeout) as sock:
            sock.sendall(line.encode() + b"\n")
            reply = self._read_reply(sock, deadline, line)
        if reply != "done" and not reply.startswith("done "):
            raise GuestCommandFailed(f"guest command {line!r} failed: {reply}")
        return reply

    def wait_answering(self, timeout):
        """Poll with `idle` until the guest's command loop answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.command("idle", timeout=0.5)
            except GuestCommandFailed:
                # Bytes sent before the loop started can garble one line: an
                # error reply still proves the loop runs, so just ask again.
                continue
            except ChannelTimeout:
                time.sleep(0.2)
        raise ChannelTimeout(f"guest did not answer on {self.socket_path}")

    def _connect(self, line, timeout):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.socket_path)
        except OSError as exc:
            sock.close()
            raise ChannelTimeout(f"guest command {line!r}: {exc}") from exc
        return sock

    @staticmethod
    def _read_reply(sock, deadline, line):
        buffer = b""
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = sock.recv(4096)
            except socket.timeout as exc:
                raise ChannelTimeout(f"guest command {line!r}: no reply") from exc
            if not chunk:
                raise ChannelTimeout(f"guest command {line!r}: channel closed")
            buffer += chunk
            while b"\n" in buffer:
                reply, buffer = buffer.split(b"\n", 1)
                if reply.strip():
                    return reply.decode(errors="replace").strip()
