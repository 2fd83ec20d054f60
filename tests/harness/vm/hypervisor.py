"""A private libvirtd (and virtlogd) running inside a network namespace.

libvirtd runs in a namespace the tier creates, so the taps it makes for guests
and all guest traffic stay there. It is entered with `nsenter --net` rather
than `ip netns exec`, which would remount /sys without the cgroup mounts that
libvirt needs for CPU stats. Clients reach it through the default unix sockets,
so the URI is plain qemu:///system.
"""

import contextlib
import fcntl
import grp
import hashlib
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import libvirt

from harness.polling import poll

from .guestimage import CACHE_DIR, prune
from .host import CommandFailed, TierUnavailable, run, stop_process

URI = "qemu:///system"
NETNS = "check_vm-realvm"
DOMAIN_PREFIX = "check_vm-realvm-"
LIBVIRTD = "/usr/sbin/libvirtd"
VIRTLOGD = "/usr/sbin/virtlogd"
QEMU = "/usr/bin/qemu-system-x86_64"
LIBVIRT_SOCKET = Path("/run/libvirt/libvirt-sock")
VIRTLOGD_SOCKET = Path("/run/libvirt/virtlogd-sock")
QEMU_PIDFILES = Path("/run/libvirt/qemu")
DAEMON_START_TIMEOUT = 60
# Who may do what is stock Debian's; only the mechanism differs. On Debian
# polkit decides: read-write for root and group libvirt (60-libvirt.rules),
# read-only for any local user (org.libvirt.unix.monitor). polkit needs D-Bus,
# which does not run here, so the sockets' owner and modes say the same: the
# read-write socket root:libvirt 0770, the read-only one open to everybody. A
# user such as nagios thus gets read-only access and no more.
LIBVIRTD_CONF = """\
# libvirtd.conf of the check_vm realvm tier: stock Debian semantics without polkit
unix_sock_group = "libvirt"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
"""


def running_daemon(names):
    """Return (name, pid) of a running process whose command name is in `names`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name in names:
            return name, int(entry.name)
    return None


def socket_answers(path):
    """Return whether a unix socket at `path` accepts connections."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def fix_kvm_permissions():
    """Give /dev/kvm the owner udev would, else libvirt re-probes QEMU often."""
    kvm = Path("/dev/kvm")
    try:
        gid = grp.getgrnam("kvm").gr_gid
    except KeyError:
        return
    if kvm.exists() and (kvm.stat().st_gid, kvm.stat().st_mode & 0o777) != (gid, 0o660):
        os.chown(kvm, -1, gid)
        kvm.chmod(0o660)


class Daemon:
    """A daemon started in the foreground inside the namespace, known by PID."""

    def __init__(self, argv, netns, log_path, socket_path):
        self.argv = argv
        self.netns = netns
        self.log_path = log_path
        self.socket_path = socket_path
        self.process = None

    def start(self):
        """Start the daemon and wait until its socket accepts connections."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["nsenter", f"--net=/var/run/netns/{self.netns}", *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_for_socket()

    def _wait_for_socket(self):
        def answers() -> bool:
            if socket_answers(self.socket_path):
                return True
            if self.process.poll() is not None:
                raise CommandFailed(f"{self.argv[0]} exited: {self.log_tail()}")
            return False
        if not poll(answers, DAEMON_START_TIMEOUT):
            raise CommandFailed(f"{self.argv[0]} did not open {self.socket_path}")

    def stop(self, timeout=20):
        """Terminate the daemon by PID; kill it if it does not exit in time."""
        stop_process(self.process, timeout)

    def log_tail(self, lines=5):
        """Return the last lines of the daemon's log as one string."""
        text = Path(self.log_path).read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])


class Hypervisor:
    """The tier's own libvirtd in its own network namespace.

    Attributes for tests: `uri` (connect here, read-only works for any user),
    `netns` (the namespace holding the guests' taps), `conn` (read-write
    connection used by the fixtures), `virt_type` ('kvm' or 'qemu').
    """

    uri = URI

    def __init__(self, run_dir=CACHE_DIR / "run", netns=NETNS):
        self.run_dir = Path(run_dir)
        self.netns = netns
        self.virt_type = "qemu"
        self.conn = None
        # Each step of start() registers its undo here as soon as it succeeded.
        self._undo = contextlib.ExitStack()

    def start(self, virt_type="qemu"):
        """Bring up namespace, virtlogd and libvirtd; TierUnavailable if blocked."""
        self.virt_type = virt_type
        self._take_session_lock()
        self._refuse_running_libvirtd()
        self._empty_run_dir()
        fix_kvm_permissions()
        self._create_netns()
        self._undo.callback(kill_leftover_qemu)
        self._start_virtlogd()
        self._start_libvirtd()
        self.conn = libvirt.open(self.uri)
        self._undo.callback(self._disconnect)
        self.remove_domains()

    def stop(self):
        """Undo whatever start() did, newest first, even if one step fails."""
        self._undo.close()

    def ip(self, *args):
        """Run `ip -n NETNS ARGS...` (configure the guests' side of the network)."""
        return run(["ip", "-n", self.netns, *args], timeout=20)

    def remove_domains(self):
        """Destroy and undefine every domain of this tier (also stale ones)."""
        for domain in self.conn.listAllDomains():
            if domain.name().startswith(DOMAIN_PREFIX):
                remove_domain(domain)

    def _take_session_lock(self):
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        lock_file = self._undo.enter_context(open(CACHE_DIR / "session.lock", "w"))  # noqa: SIM115
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise TierUnavailable("another realvm session holds the hypervisor") from exc

    def _empty_run_dir(self):
        # The previous session's logs stay until here, for post-mortems.
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.run_dir.mkdir(parents=True)
        self.run_dir.chmod(0o755)  # QEMU runs as libvirt-qemu and must get in

    def _disconnect(self):
        self.remove_domains()
        self.conn.close()
        self.conn = None

    @staticmethod
    def _refuse_running_libvirtd():
        found = running_daemon({"libvirtd", "virtqemud"})
        if found:
            name, pid = found
            raise TierUnavailable(
                f"{name} (pid {pid}) already runs; stop it (kill {pid}) so the "
                "realvm tier can run its own libvirtd in a network namespace"
            )

    def _create_netns(self):
        if Path(f"/var/run/netns/{self.netns}").exists():
            run(["ip", "netns", "delete", self.netns])  # stale, from a killed run
        run(["ip", "netns", "add", self.netns])
        self._undo.callback(run, ["ip", "netns", "delete", self.netns], check=False)
        self.ip("link", "set", "lo", "up")
        # No IPv6 on the taps: no router solicitations, no MLD, exact counters.
        self._sysctl("net/ipv6/conf/default/disable_ipv6", "1")
        self._sysctl("net/ipv6/conf/all/disable_ipv6", "1")

    def _sysctl(self, key, value):
        run([
            "nsenter", f"--net=/var/run/netns/{self.netns}",
            "sh", "-c", f"echo {value} > /proc/sys/{key}",
        ])

    def _start_virtlogd(self):
        # A virtlogd already running serves us as well (it never sees traffic).
        if socket_answers(VIRTLOGD_SOCKET):
            return
        self._start_daemon([VIRTLOGD], "virtlogd.log", VIRTLOGD_SOCKET)

    def _start_libvirtd(self):
        conf = self.run_dir / "libvirtd.conf"
        conf.write_text(LIBVIRTD_CONF)
        self._start_daemon([LIBVIRTD, "-f", str(conf)], "libvirtd.log", LIBVIRT_SOCKET)

    def _start_daemon(self, argv, log_name, socket_path):
        daemon = Daemon(argv, self.netns, self.run_dir / log_name, socket_path)
        self._undo.callback(daemon.stop)
        daemon.start()

def kill_leftover_qemu():
    """Kill QEMUs of this tier that a dead libvirtd left behind (pidfiles stay)."""
    for pidfile in QEMU_PIDFILES.glob(f"{DOMAIN_PREFIX}*.pid"):
        kill_qemu_of(pidfile.name[: -len(".pid")], pidfile)


def kill_qemu_of(domain_name, pidfile):
    """SIGKILL the QEMU of `domain_name` named in `pidfile`, if it still runs."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if f"guest={domain_name}".encode() in b",".join(cmdline):
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


def remove_domain(domain):
    """Destroy `domain` if it runs, then undefine it."""
    try:
        if domain.isActive():
            domain.destroy()
        if domain.isPersistent():
            domain.undefine()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise


def usable_virt_type(image, cache_dir=CACHE_DIR):
    """Return 'kvm' when a KVM guest really boots on this machine, else 'qemu'.

    /dev/kvm can exist and accept KVM_CREATE_VM while guests still hang or
    abort (nested virtualisation), so the probe boots the real guest image.
    The answer is cached per host kernel, QEMU build and guest image.
    """
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "qemu"
    inputs = f"{platform.release()} {Path(QEMU).stat().st_mtime_ns} {image}"
    stamp = cache_dir / f"virt-type-{hashlib.sha256(inputs.encode()).hexdigest()[:16]}"
    if not stamp.exists():
        stamp.write_text("kvm" if kvm_boots(image) else "qemu")
        prune(cache_dir, "virt-type-*", keep=stamp)
    return stamp.read_text().strip()


def kvm_boots(image, timeout=10):
    """Boot `image` under KVM without any network; True if /init got going."""
    argv = [
        QEMU, "-accel", "kvm", "-machine", "pc", "-m", "128", "-nodefaults",
        "-nic", "none", "-display", "none", "-serial", "stdio", "-no-reboot",
        "-kernel", str(image.kernel), "-initrd", str(image.initrd),
        "-append", f"{image.cmdline} cv.probe=1",
    ]
    try:
        result = subprocess.run(
            argv, capture_output=True, timeout=timeout, preexec_fn=no_core_dumps
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0 and b"cv: ready" in result.stdout


def no_core_dumps():
    """In the child: a QEMU that aborts on a broken KVM must not leave a core."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
