"""An sshd on loopback inside the tier's network namespace, for qemu+ssh:// URIs.

It listens on 127.0.0.1 only, inside the namespace that holds the tier's
libvirtd, so nothing outside the namespace can reach it. Its host key, the
client's key, authorized_keys and known_hosts are fresh files in a directory
of the test's. A client reaches it with `ssh_uri()` from a process started
with `in_netns()`; sessions are counted from sshd's own log, one
"Accepted publickey" line per authenticated connection.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from harness.polling import poll

from .host import CommandFailed, ensure_packages, run, stop_process

PACKAGES = ("openssh-server", "openssh-client")
SSHD = "/usr/sbin/sshd"
SSH = "/usr/bin/ssh"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
# sshd's privilege separation directory; Debian's unit file creates it at boot.
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 20
STOP_TIMEOUT = 10
SESSION_LINE = "Accepted publickey for root from 127.0.0.1"
FREE_PORT = (
    "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
    "print(s.getsockname()[1])"
)

SSHD_CONFIG = """\
# sshd of the check_vm realvm tier: loopback only, keys only, everything in {dir}
ListenAddress 127.0.0.1:{port}
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel VERBOSE
PrintMotd no
"""

# libvirt's ssh transport runs `ssh` with the URI's options (port, user,
# keyfile); this wrapper adds what the URI cannot say to the ssh binary:
# verify the host key against our own known_hosts and touch no file of
# root's (~/.ssh, /etc/ssh/ssh_config).
SSH_WRAPPER = """\
#!/bin/sh
exec {ssh} -F /dev/null -o UserKnownHostsFile={dir}/known_hosts \
-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes \
-o IdentitiesOnly=yes -o BatchMode=yes "$@"
"""


def in_netns(netns: str) -> list[str]:
    """The command prefix that runs a program inside network namespace `netns`."""
    return ["nsenter", f"--net=/var/run/netns/{netns}"]


def free_port(netns: str) -> int:
    """A TCP port free on 127.0.0.1 inside `netns` (only the tier uses it)."""
    result = run([*in_netns(netns), sys.executable, "-c", FREE_PORT], timeout=20)
    return int(result.stdout.strip())


def keygen(path: Path) -> str:
    """Make an ed25519 key pair without passphrase at `path`; the public line."""
    run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "check_vm-realvm",
         "-f", str(path)], timeout=20)
    return Path(f"{path}.pub").read_text().strip()


class Sshd:
    """sshd -D in the foreground inside `netns`, configured in `directory`."""

    def __init__(self, netns: str, directory: Path) -> None:
        self.netns = netns
        self.dir = Path(directory)
        self.port = 0
        self.log_path = self.dir / "sshd.log"
        self.client_key = self.dir / "client_ed25519"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Write keys and config, start sshd and wait until it listens."""
        ensure_packages(PACKAGES)
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        self.port = free_port(self.netns)
        self._write_files()
        config = self.dir / "sshd_config"
        run([SSHD, "-t", "-f", str(config)], timeout=20)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*in_netns(self.netns), SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_listening()

    def stop(self) -> None:
        """Terminate sshd by its PID; kill it if it does not exit in time."""
        stop_process(self.process, STOP_TIMEOUT)

    def ssh_uri(self, driver_path: str = "/system") -> str:
        """The qemu+ssh:// URI of the tier's libvirtd through this sshd."""
        params = {"keyfile": self.client_key, "command": self.dir / "ssh", "no_tty": "1"}
        query = "&".join(f"{key}={quote(str(value), safe='/')}" for key, value in params.items())
        return f"qemu+ssh://root@127.0.0.1:{self.port}{driver_path}?{query}"

    def sessions(self) -> int:
        """How many SSH sessions sshd has accepted so far."""
        return self.log_path.read_text(errors="replace").count(SESSION_LINE)

    def wait_for_sessions(self, count: int, timeout: float = 10) -> int:
        """Wait until at least `count` sessions are logged (bounded); the number."""
        poll(lambda: self.sessions() >= count, timeout, 0.05)
        return self.sessions()

    def log_tail(self, lines: int = 8) -> str:
        """The last lines of sshd's log, for assertion messages."""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def _write_files(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        host_key = keygen(self.dir / "host_ed25519")
        (self.dir / "authorized_keys").write_text(keygen(self.client_key) + "\n")
        (self.dir / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_key}\n")
        (self.dir / "sshd_config").write_text(SSHD_CONFIG.format(dir=self.dir, port=self.port))
        wrapper = self.dir / "ssh"
        wrapper.write_text(SSH_WRAPPER.format(ssh=SSH, dir=self.dir))
        wrapper.chmod(0o755)

    def _wait_until_listening(self) -> None:
        listening = f"Server listening on 127.0.0.1 port {self.port}"

        def listens() -> bool:
            if listening in self.log_path.read_text(errors="replace"):
                return True
            if self.process.poll() is not None:
                raise CommandFailed(f"sshd exited {self.process.returncode}: {self.log_tail()}")
            return False
        if not poll(listens, START_TIMEOUT, 0.05):
            self.stop()
            raise CommandFailed(f"sshd did not listen on port {self.port}: {self.log_tail()}")
