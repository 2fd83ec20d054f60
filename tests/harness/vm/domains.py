"""Domain XML and the lifecycle of the realvm guests on the tier's libvirtd.

A guest boots the cached kernel and initramfs directly, logs its console
(ttyS0) to a file and serves commands on ttyS1, which QEMU binds to a unix
socket. Its NIC is a libvirt-made tap in the hypervisor's namespace, addressed
from the TEST-NET-1 range: the guest has no route anywhere else.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.polling import poll

from .channel import ChannelTimeout, CommandChannel
from .guestimage import GuestImage, make_disk
from .hypervisor import DOMAIN_PREFIX, Hypervisor, remove_domain

BOOT_TIMEOUT = 90


class GuestNotReady(Exception):
    """A guest did not boot to a usable state within its time budget."""


@dataclass(frozen=True)
class Nic:
    """The guest's NIC and both ends' addresses (host end = the tap)."""

    tap: str = "cvtap0"
    guest_mac: str = "52:54:00:c7:00:02"
    host_mac: str = "fe:54:00:c7:00:01"
    guest_ip: str = "192.0.2.2"
    host_ip: str = "192.0.2.1"
    prefix: int = 24


@dataclass(frozen=True)
class GuestSpec:
    """Everything that distinguishes one realvm domain from another."""

    name: str
    image: GuestImage
    run_dir: Path
    vcpus: int = 2
    memory_kib: int = 256 * 1024
    disks: tuple = ("vda", "vdb")
    nic: Nic | None = None
    balloon: bool = True

    def disk_path(self, dev):
        """Path of the raw image behind disk `dev`."""
        return self.run_dir / f"{self.name}-{dev}.raw"

    @property
    def console_log(self):
        """File that receives the guest's ttyS0."""
        return self.run_dir / f"{self.name}-console.log"

    @property
    def socket_path(self):
        """Unix socket bound to the guest's ttyS1 (the command channel)."""
        return self.run_dir / f"{self.name}-ttyS1.sock"

    @property
    def cmdline(self):
        """Kernel command line; the NIC settings are read by /init."""
        if self.nic is None:
            return self.image.cmdline
        nic = self.nic
        return (
            f"{self.image.cmdline} cv.ip={nic.guest_ip}/{nic.prefix} "
            f"cv.host={nic.host_ip} cv.hostmac={nic.host_mac}"
        )


def domain_xml(spec, virt_type):
    """Return the libvirt domain XML for `spec` under `virt_type` (qemu/kvm)."""
    return f"""<domain type='{virt_type}'>
  <name>{spec.name}</name>
  <memory unit='KiB'>{spec.memory_kib}</memory>
  <vcpu>{spec.vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{spec.image.kernel}</kernel>
    <initrd>{spec.image.initrd}</initrd>
    <cmdline>{spec.cmdline}</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
{"".join(disk_xml(spec, dev) for dev in spec.disks)}{nic_xml(spec.nic)}\
    <serial type='file'>
      <source path='{spec.console_log}'/>
      <target port='0'/>
    </serial>
    <serial type='unix'>
      <source mode='bind' path='{spec.socket_path}'/>
      <target port='1'/>
    </serial>
    <controller type='usb' model='none'/>
    {balloon_xml(spec.balloon)}
  </devices>
</domain>
"""


def disk_xml(spec, dev):
    """Return a raw virtio <disk> element for `dev`."""
    return f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{spec.disk_path(dev)}'/>
      <target dev='{dev}' bus='virtio'/>
    </disk>
"""


def nic_xml(nic):
    """Return an ethernet <interface> whose tap libvirt creates, or ''."""
    if nic is None:
        return ""
    return f"""    <interface type='ethernet'>
      <mac address='{nic.guest_mac}'/>
      <target dev='{nic.tap}'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
"""


def balloon_xml(balloon):
    """Return a virtio balloon with 2 s stats, or an explicit 'none'."""
    if not balloon:
        return "<memballoon model='none'/>"
    return "<memballoon model='virtio'><stats period='2'/></memballoon>"


def interface_target(xml_desc):
    """Return the host-side device name of the first NIC in a domain's XML."""
    target = ET.fromstring(xml_desc).find("./devices/interface/target")
    return None if target is None else target.get("dev")


class Guest:
    """A realvm domain on the tier's libvirtd, with its command channel.

    Attributes for tests: name, uuid, vcpus, memory_kib, tap (as libvirt
    reports it), host_ip, guest_ip, disks; methods command() and restart().
    """

    def __init__(self, hypervisor: Hypervisor, spec: GuestSpec):
        self.hypervisor = hypervisor
        self.spec = spec
        self.name = spec.name
        self.vcpus = spec.vcpus
        self.memory_kib = spec.memory_kib
        self.disks = list(spec.disks)
        self.host_ip = spec.nic.host_ip if spec.nic else None
        self.guest_ip = spec.nic.guest_ip if spec.nic else None
        self.tap = None
        self.uuid = None
        self.domain = None
        self.channel = CommandChannel(spec.socket_path)

    def define(self):
        """Create the disk images and define the (persistent) domain."""
        for dev in self.spec.disks:
            make_disk(self.spec.disk_path(dev))
        xml = domain_xml(self.spec, self.hypervisor.virt_type)
        self.domain = self.hypervisor.conn.defineXML(xml)
        self.uuid = self.domain.UUIDString()

    def start(self, timeout=BOOT_TIMEOUT):
        """Start the domain, address its tap, wait until it is ready."""
        self.domain.create()
        self._plumb_tap()
        self.wait_ready(timeout)

    def restart(self, timeout=BOOT_TIMEOUT):
        """Destroy and start again (fresh QEMU, fresh tap); wait until ready."""
        if self.domain.isActive():
            self.domain.destroy()
        self.start(timeout)

    def command(self, line, timeout=60):
        """Run one command in the guest (see guestimage); return "done"."""
        return self.channel.command(line, timeout)

    def meminfo(self):
        """The guest's own MemTotal, MemFree and MemAvailable, in KiB."""
        reply = self.command("meminfo")
        return {key: int(value) for key, value in
                (item.split("=", 1) for item in reply.split()[1:])}

    def wait_ready(self, timeout=BOOT_TIMEOUT):
        """Wait for the command loop and, with a balloon, for balloon stats."""
        deadline = time.monotonic() + timeout
        try:
            self.channel.wait_answering(timeout)
        except ChannelTimeout as exc:
            raise GuestNotReady(f"{self.name}: {exc}; {self.console_tail()}") from exc
        if self.spec.balloon:
            self._wait_balloon_stats(deadline)

    def remove(self):
        """Destroy and undefine the domain, delete its disk images."""
        if self.domain is not None:
            remove_domain(self.domain)
            self.domain = None
        for dev in self.spec.disks:
            self.spec.disk_path(dev).unlink(missing_ok=True)

    def console_tail(self, lines=8):
        """Return the end of the guest's console log, for failure messages."""
        try:
            text = self.spec.console_log.read_text(errors="replace")
        except OSError:
            return "no console log"
        return "console: " + " | ".join(text.strip().splitlines()[-lines:])

    def _plumb_tap(self):
        nic = self.spec.nic
        if nic is None:
            return
        self.tap = interface_target(self.domain.XMLDesc())
        ip = self.hypervisor.ip
        ip("link", "set", "dev", self.tap, "address", nic.host_mac)
        ip("addr", "replace", f"{nic.host_ip}/{nic.prefix}", "dev", self.tap)
        ip("neigh", "replace", nic.guest_ip, "lladdr", nic.guest_mac,
           "dev", self.tap, "nud", "permanent")
        ip("link", "set", "dev", self.tap, "up")

    def _wait_balloon_stats(self, deadline):
        def balloon_reports() -> bool:
            stats = self.domain.memoryStats()
            return "usable" in stats and stats.get("last_update", 0) > 0
        if not poll(balloon_reports, max(deadline - time.monotonic(), 0), 0.5):
            raise GuestNotReady(f"{self.name}: no balloon stats; {self.console_tail()}")


def guest_name(role):
    """Domain name for `role`; the prefix lets the tier find stale domains."""
    return f"{DOMAIN_PREFIX}{role}"
