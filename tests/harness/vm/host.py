"""Host-side helpers for the realvm tier: commands, prerequisites, packages."""

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

PACKAGES = (
    "libvirt-daemon-system",
    "qemu-system-x86",
    "qemu-utils",
    "busybox-static",
    "cpio",
)
TOOLS = ("ip", "nsenter", "apt-get", "apt-cache", "dpkg-deb", "dpkg-query")
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")

_apt_state = {"updated": False}


class TierUnavailable(Exception):
    """The machine cannot host the realvm tier; the message says why."""


class CommandFailed(Exception):
    """A host command exited non-zero or timed out."""


def run(args, timeout=60, check=True, **kwargs):
    """Run a command, capture its output as text, raise CommandFailed on error."""
    try:
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, **kwargs
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(f"{' '.join(args)}: timed out after {timeout}s") from exc
    if check and result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or [""]
        raise CommandFailed(f"{' '.join(args)}: exit {result.returncode}: {lines[-1]}")
    return result


def stop_process(process, timeout):
    """Terminate a process we started, by its PID; kill it if it does not exit in time."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def check_machine():
    """Raise TierUnavailable unless this is a root Debian host with tun and tools."""
    if os.geteuid() != 0:
        raise TierUnavailable("not root (the tier runs its own libvirtd and QEMU)")
    if not Path("/etc/debian_version").exists():
        raise TierUnavailable("not a Debian host (the guest kernel comes from apt)")
    if not Path("/dev/net/tun").exists():
        raise TierUnavailable("no /dev/net/tun (the guest's NIC is a tap)")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise TierUnavailable(f"missing tools: {', '.join(missing)}")


def missing_packages(packages=PACKAGES):
    """Return the packages of `packages` that dpkg does not list as installed."""
    result = run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages],
        check=False,
    )
    installed = {
        line.split()[0]
        for line in result.stdout.splitlines()
        if line.endswith(" installed")
    }
    return [name for name in packages if name not in installed]


def apt_update():
    """Run `apt-get update` at most once per session."""
    if not _apt_state["updated"]:
        run(["apt-get", "update"], timeout=300)
        _apt_state["updated"] = True


def ensure_packages(packages=PACKAGES):
    """Install whatever of `packages` is missing; TierUnavailable if apt fails."""
    missing = missing_packages(packages)
    if not missing:
        return
    try:
        apt_update()
        with services_not_started():
            run(
                ["apt-get", "install", "-y", "--no-install-recommends", *missing],
                timeout=600,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
    except CommandFailed as exc:
        raise TierUnavailable(f"cannot install {' '.join(missing)}: {exc}") from exc


@contextlib.contextmanager
def services_not_started():
    """Install a policy-rc.d for the duration so package scripts start no daemon.

    A libvirtd started by the package's postinst would run in the root network
    namespace and block the tier's own libvirtd.
    """
    created = not POLICY_RC_D.exists()
    if created:
        POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        if created:
            POLICY_RC_D.unlink(missing_ok=True)
