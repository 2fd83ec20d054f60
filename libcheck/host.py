"""check_vm_host: the hypervisor's own view of its VMs.

One service per libvirt URI.  It counts the domains in each state, names
the VMs that need an operator (crashed, paused on an error and which disk
failed, paused, marked to start with the host but not running), compares
the domains with those the monitoring expects on this hypervisor (drift:
VMs not monitored, VMs gone or migrated), and sets the vCPUs and memory of
the active VMs against the host's CPUs and memory (overcommit).  It is
served by the host snapshot's summary, which every refresh writes, so a hit
costs what a VM check's hit costs and opens no libvirt connection.

A domain makes at most one problem: its policy case (the words and cases of
the VM checks, libcheck.policy) or, shut off with autostart set, "autostart
down".  A shut-off VM without autostart is no problem unless
--state-if-stopped says so.
"""

from __future__ import annotations

import argparse
import os
import stat

from libcheck.cli import add_state_option, domain_reference
from libcheck.domainref import Lookup, lookup_order, uuid_digits
from libcheck.errors import UsageError
from libcheck.evaluation import Reading
from libcheck.hostcheckbase import HostCheck, HostSource, Problem
from libcheck.metrics import (
    Declarations,
    Field,
    Inputs,
    Metric,
    RatioOf,
    Reported,
    Wording,
    readings_of,
)
from libcheck.policy import STATE_NAMES, case_of, state_words
from libcheck.records import NamedTuple
from libcheck.samples import DomainState, HostDomain, HostSummary
from libcheck.thresholds import LabelSpec, Target
from libcheck.units import human_bytes, ratio, whole

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

# An expected-domains file larger than this is a mistake, not a list of VMs.
MAX_EXPECT_FILE_BYTES = 16 * 1024 * 1024
KIB = 1024

# The domains each count holds, by libvirt state.
_COUNTED_STATES = {
    "running": (DomainState.RUNNING, DomainState.BLOCKED),
    "paused": (DomainState.PAUSED,),
    "shutoff": (DomainState.SHUTOFF,),
    "crashed": (DomainState.CRASHED,),
    "suspended": (DomainState.PMSUSPENDED,),
    "other": (DomainState.NOSTATE, DomainState.SHUTDOWN),
}


class Figures(NamedTuple):
    """The host's numbers of one run: what the perfdata labels read."""

    running: int
    paused: int
    shutoff: int
    crashed: int
    suspended: int
    other: int
    autostart_down: int
    not_monitored: Optional[int]
    gone: Optional[int]
    host_cpus: int
    active_vcpus: Optional[int]
    host_memory: int
    host_memory_free: Optional[int]
    active_memory: Optional[int]


class Observed(NamedTuple):
    """One run's view: the summary, the expected names (None: no drift check)
    and the figures."""

    summary: HostSummary
    expected: Optional[frozenset[str]]
    figures: Figures


class HostOptions(NamedTuple):
    """check_vm_host's own options."""

    expect_domain: list[str]
    expect_file: Optional[str]
    state_if_crashed: str
    state_if_paused_error: str
    state_if_paused: str
    state_if_autostart_down: str
    state_if_stopped: str
    state_if_not_monitored: str
    state_if_gone: str


declare = Declarations()


def _count(label: str, meaning: str, words: str, spare: int = 0) -> Metric:
    return declare(Metric(LabelSpec(label, "", meaning, spare=spare),
                          Reported(Field(label, meaning)), Wording("", f" {words}", whole)))


RUNNING = _count("running", "domains running (or blocked on a resource)", "running")
PAUSED = _count("paused", "domains paused, for any reason", "paused")
SHUTOFF = _count("shutoff", "domains shut off", "shut off")
CRASHED = _count("crashed", "domains crashed (kept by on_crash=preserve)", "crashed")
SUSPENDED = _count("suspended", "domains suspended by guest power management", "suspended")
OTHER = _count("other", "domains shutting down or in no known state", "other")
AUTOSTART_DOWN = _count("autostart_down", "domains marked autostart and shut off",
                        "autostart down")
NOT_MONITORED = _count("not_monitored", "domains present but not expected (drift)",
                       "not monitored")
GONE = _count("gone", "domains expected but not present (drift)", "gone")
HOST_CPUS = _count("host_cpus", "the host's CPUs (threads) as libvirt counts them",
                   "host CPUs")
ACTIVE_VCPUS = _count("active_vcpus", "vCPUs of the active domains (running, paused...)",
                      "vCPUs")
VCPU_OVERCOMMIT = declare(Metric(
    LabelSpec("vcpu_overcommit", "", "vCPUs of the active domains per host CPU"),
    RatioOf(Field("active_vcpus", "vCPU count"), Field("host_cpus", "host CPU count")),
    Wording("vCPU overcommit ", "x", ratio)))
HOST_MEMORY = declare(Metric(
    LabelSpec("host_memory", "B", "the host's memory"),
    Reported(Field("host_memory", "host memory")), Wording("host memory ", "", human_bytes)))
HOST_MEMORY_FREE = declare(Metric(
    LabelSpec("host_memory_free", "B", "the host's free memory (not counting its caches)"),
    Reported(Field("host_memory_free", "free memory")),
    Wording("host memory free ", "", human_bytes)))
ACTIVE_MEMORY = declare(Metric(
    LabelSpec("active_memory", "B", "maximum memory of the active domains"),
    Reported(Field("active_memory", "memory of the active domains")),
    Wording("memory of active VMs ", "", human_bytes)))
MEM_OVERCOMMIT = declare(Metric(
    LabelSpec("mem_overcommit", "", "maximum memory of the active domains per host memory"),
    RatioOf(Field("active_memory", "memory of the active domains"),
            Field("host_memory", "host memory")),
    Wording("memory overcommit ", "x", ratio)))

_POLICY_OPTIONS = (
    ("crashed", "a domain crashed (or its guest did and QEMU ended)", "critical"),
    ("paused-error", "a domain is paused on an error: disk I/O error (the disk and why are "
                     "named where libvirt tells), watchdog, failed post-copy migration",
     "critical"),
    ("paused", "a domain is paused for any other reason, or suspended", "warning"),
    ("autostart-down", "a domain marked to start with the host is shut off", "warning"),
    ("stopped", "a domain without autostart is shut off or shutting down", "ok"),
    ("not-monitored", "a domain is on the hypervisor but not expected (--expect-*): "
                      "created after the inventory, or migrated here", "warning"),
    ("gone", "an expected domain is not on the hypervisor: removed, or migrated away",
     "warning"),
)


class HypervisorCheck(HostCheck):
    """check_vm_host: domains by state, problems, drift and overcommit."""

    name = "host"
    description = ("Check a KVM/QEMU hypervisor through libvirt: its domains by state, "
                   "those that need an operator (crashed, paused on an error, marked "
                   "autostart but down), drift from the domains the monitoring expects, "
                   "and vCPU and memory overcommit.")
    metrics = declare.all()
    Options = HostOptions
    uses_snapshot = True

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--expect-domain", metavar="NAME", action="append", default=[],
                            type=domain_reference,
                            help="a domain the monitoring expects on this hypervisor, by "
                                 "name or UUID (repeatable); with --expect-file, both count")
        parser.add_argument("--expect-file", metavar="FILE",
                            help="a file of the expected domains' names or UUIDs, one per line "
                                 "(blank lines and lines starting with # are skipped), "
                                 "as check_vm_inventory writes it")
        for case, when, default in _POLICY_OPTIONS:
            add_state_option(parser, f"--state-if-{case}", when, default)

    def observe(self, source: HostSource, options: HostOptions) -> Observed:
        expected = expected_domains(options)
        summary = source.summary()
        return Observed(summary, expected, figures_of(summary, expected))

    def readings(self, observed: Observed, options: HostOptions) -> list[Reading]:
        return readings_of(self.metrics, Inputs(observed.figures, {}))

    def problems(self, observed: Observed, options: HostOptions) -> list[Problem]:
        domains = sorted(observed.summary.domains, key=lambda domain: domain.identity.name)
        found = [problem for domain in domains for problem in domain_problems(domain, options)]
        return found + drift_problems(observed, options)

    def ok_text(self, observed: Observed, readings: list[Reading]) -> str:
        return summary_text(observed.figures)

    def details(self, observed: Observed, options: HostOptions) -> list[str]:
        return [f"{domain.identity.name}: {state_words(domain.identity)}"
                + (", autostart" if domain.autostart else "")
                for domain in sorted(observed.summary.domains,
                                     key=lambda domain: domain.identity.name)]

    def unmeasured_reason(self, observed: Observed, options: HostOptions,
                          target: Target) -> Optional[str]:
        metric = target.spec.metric
        if metric in (NOT_MONITORED.spec.metric, GONE.spec.metric):
            return "no expected domains are given (--expect-domain, --expect-file)"
        if metric == HOST_MEMORY_FREE.spec.metric:
            return "libvirt reports no free memory for this host (its driver has neither "\
                   "memory statistics nor NUMA cells)"
        if metric in (ACTIVE_VCPUS.spec.metric, ACTIVE_MEMORY.spec.metric,
                      VCPU_OVERCOMMIT.spec.metric, MEM_OVERCOMMIT.spec.metric):
            return "libvirt did not report the vCPUs or memory of every active domain"
        return None


def expected_domains(options: HostOptions) -> Optional[frozenset[str]]:
    """The names the monitoring expects, None when no option gives any."""
    if options.expect_file is None and not options.expect_domain:
        return None
    names = set(options.expect_domain)
    if options.expect_file is not None:
        names.update(read_expect_file(options.expect_file))
    return frozenset(names)


def read_expect_file(path: str) -> list[str]:
    """The names in an expected-domains file; UsageError where it cannot be read."""
    try:
        # Without blocking: a FIFO in its place must not hang the check.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise UsageError(f"--expect-file {path}: not a regular file")
            data = stream.read(MAX_EXPECT_FILE_BYTES + 1)
    except OSError as error:
        raise UsageError(f"--expect-file {path}: {error.strerror or error}") from None
    if len(data) > MAX_EXPECT_FILE_BYTES:
        raise UsageError(f"--expect-file {path}: larger than "
                         f"{MAX_EXPECT_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--expect-file {path}: not UTF-8 text") from None
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def figures_of(summary: HostSummary, expected: Optional[frozenset[str]]) -> Figures:
    """The counts, capacity and drift of one summary."""
    counts = {label: sum(domain.identity.state in states for domain in summary.domains)
              for label, states in _COUNTED_STATES.items()}
    active = [domain for domain in summary.domains if domain.has_process]
    drift = None if expected is None else drift_of(summary, expected)
    node = summary.node
    return Figures(
        **counts,
        autostart_down=sum(_autostart_down(domain) for domain in summary.domains),
        not_monitored=None if drift is None else len(drift.unexpected),
        gone=None if drift is None else len(drift.absent),
        host_cpus=node.cpus,
        active_vcpus=_total(domain.vcpus for domain in active),
        host_memory=node.memory_kib * KIB,
        host_memory_free=None if node.free_kib is None else node.free_kib * KIB,
        active_memory=_scaled(_total(domain.memory_kib for domain in active), KIB))


def _total(values) -> Optional[int]:
    values = list(values)
    return None if any(value is None for value in values) else sum(values)


def _scaled(value: Optional[int], factor: int) -> Optional[int]:
    return None if value is None else value * factor


def _autostart_down(domain: HostDomain) -> bool:
    return domain.autostart and domain.identity.state is DomainState.SHUTOFF


def domain_problems(domain: HostDomain, options: HostOptions) -> list[Problem]:
    """The one problem a domain makes, if any, with the state its option gives."""
    identity = domain.identity
    case = case_of(identity)
    if case is None:
        return []
    words = state_words(identity)
    if case == "stopped" and _autostart_down(domain):
        return [Problem(STATE_NAMES[options.state_if_autostart_down],
                        f"{identity.name}: {words}, but marked autostart")]
    if case == "paused" and identity.state is DomainState.PMSUSPENDED:
        words = "suspended"
    state = STATE_NAMES[getattr(options, f"state_if_{case}")]
    return [Problem(state, f"{identity.name}: {words}")]


class Drift(NamedTuple):
    """The domains present and not expected, and the expected entries no
    domain answers to, each sorted."""

    unexpected: tuple[str, ...]
    absent: tuple[str, ...]


def drift_of(summary: HostSummary, expected: frozenset[str]) -> Drift:
    """Compare the domains with the expected entries: an entry names a domain
    by its name or by its UUID (the inventory gives the UUID of a VM whose
    name a check cannot take)."""
    wanted = {_key(entry) for entry in expected}
    answered: set[str] = set()
    unexpected = []
    for domain in summary.domains:
        name = domain.identity.name
        matched = {name, _key(name), _key(domain.identity.uuid)} & wanted
        if matched:
            answered.update(matched)
        else:
            unexpected.append(name)
    absent = [entry for entry in expected if _key(entry) not in answered]
    return Drift(tuple(sorted(unexpected)), tuple(sorted(absent)))


def _key(entry: str) -> str:
    """An expected entry as it compares: a UUID-shaped one as a UUID does
    (the same rule as --domain's lookup), any other as it is."""
    return uuid_digits(entry) if Lookup.UUID in lookup_order(entry) else entry


def drift_problems(observed: Observed, options: HostOptions) -> list[Problem]:
    """Domains present and not expected, and expected and absent."""
    if observed.expected is None:
        return []
    drift = drift_of(observed.summary, observed.expected)
    return ([Problem(STATE_NAMES[options.state_if_not_monitored],
                     f"{name}: not monitored (not among the expected domains)")
             for name in drift.unexpected]
            + [Problem(STATE_NAMES[options.state_if_gone],
                       f"{name}: expected, but not on this hypervisor (removed or migrated?)")
               for name in drift.absent])


def summary_text(figures: Figures) -> str:
    """`5 running, 1 paused, 2 shut off; 12 vCPUs on 8 CPUs (1.50x), ...`."""
    states = [f"{getattr(figures, label)} {words}" for label, words in (
        ("running", "running"), ("paused", "paused"), ("shutoff", "shut off"),
        ("crashed", "crashed"), ("suspended", "suspended"), ("other", "other"))
        if label == "running" or getattr(figures, label)]
    text = ", ".join(states)
    if figures.active_vcpus is not None and figures.host_cpus:
        text += (f"; {figures.active_vcpus} vCPUs on {figures.host_cpus} CPUs "
                 f"({ratio(figures.active_vcpus / figures.host_cpus)}x)")
    if figures.active_memory is not None and figures.host_memory:
        text += (f", {human_bytes(figures.active_memory)} of {human_bytes(figures.host_memory)}"
                 f" memory ({ratio(figures.active_memory / figures.host_memory)}x)")
    return text


CHECK = HypervisorCheck()
