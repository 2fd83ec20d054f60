"""Domain state policy: what a check says about a VM that is not running.

A stopped VM is a problem, so nothing but a running VM is OK by default.
Each non-running case maps to a state that an option can change.  The case
follows the state and, where it changes what an operator must do, libvirt's
reason for it:

- a pause on an error (a disk I/O error, the guest's watchdog, a failed
  post-copy migration, an operation that could not resume the VM) is an
  outage that waits for an administrator: "paused-error", critical;
- a pause after a guest crash, and a shut-off VM whose guest or QEMU
  crashed, are crashes: "crashed", whatever --state-if-stopped says;
- every other pause (by a user, or for a job such as a migration, a
  snapshot or a save, which ends by itself) is "paused", a warning.
"""

from __future__ import annotations

import argparse

from nagiosplugin.state import Critical, Ok, ServiceState, Unknown, Warn

from libcheck.records import NamedTuple
from libcheck.samples import DomainIdentity, DomainState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

STATE_NAMES = {"ok": Ok, "warning": Warn, "critical": Critical, "unknown": Unknown}

# One --state-if-CASE option each (libcheck.cli), in this order.
DEFAULTS = {"stopped": "critical", "paused": "warning", "paused-error": "critical",
            "crashed": "critical", "missing": "critical"}
# When an option applies, for its help where "the domain is CASE" says too little.
CASE_WORDS = {"paused-error": "the domain is paused on an error: disk I/O error, watchdog, "
                              "failed post-copy migration or resume"}

_CASE_OF_STATE = {
    DomainState.SHUTOFF: "stopped",
    DomainState.SHUTDOWN: "stopped",
    DomainState.PAUSED: "paused",
    DomainState.PMSUSPENDED: "paused",
    DomainState.CRASHED: "crashed",
}


# The reasons' enums cost a run 1.5 ms to import: only a domain that is not
# running needs them, so the two functions below import them when called.
def _case_of_reason(state: DomainState, reason: int) -> Optional[str]:
    """The case that a state's reason makes, where it differs from the state's."""
    from libcheck.reasons import Paused, Shutoff

    cases: dict[tuple[DomainState, int], str] = {
        (DomainState.PAUSED, Paused.IOERROR): "paused_error",
        (DomainState.PAUSED, Paused.WATCHDOG): "paused_error",
        (DomainState.PAUSED, Paused.POSTCOPY_FAILED): "paused_error",
        (DomainState.PAUSED, Paused.API_ERROR): "paused_error",
        (DomainState.PAUSED, Paused.CRASHED): "crashed",
        (DomainState.SHUTOFF, Shutoff.CRASHED): "crashed",
    }
    return cases.get((state, reason))


def state_words(identity: DomainIdentity) -> str:
    """The domain's state, its reason and, for a pause on an I/O error, the
    disks that failed: `paused (by a disk I/O error: ...), vdb: no space left`."""
    from libcheck.reasons import describe

    words = describe(identity.state, identity.reason)
    if identity.disk_errors:
        words += ", " + ", ".join(error.words for error in identity.disk_errors)
    return words


def case_of(identity: DomainIdentity) -> Optional[str]:
    """The policy case of a domain that is not running (a StatePolicy field)."""
    case = _CASE_OF_STATE.get(identity.state)
    if case is None:
        return None  # a state with no case, whatever its reason
    return _case_of_reason(identity.state, identity.reason) or case


class Verdict(NamedTuple):
    """A state and the words after the VM's name in the status line."""

    state: ServiceState
    text: str


class StatePolicy(NamedTuple):
    """The state to report for each non-running case."""

    stopped: ServiceState = Critical
    paused: ServiceState = Warn
    paused_error: ServiceState = Critical
    crashed: ServiceState = Critical
    missing: ServiceState = Critical

    @classmethod
    def from_names(cls, **names: str) -> StatePolicy:
        """Build from state names by field, such as stopped='ok'."""
        return cls(**{case: STATE_NAMES[name] for case, name in names.items()})

    @classmethod
    def from_options(cls, options: argparse.Namespace) -> StatePolicy:
        """Build from the parsed --state-if-CASE options, one per DEFAULTS entry."""
        fields = (case.replace("-", "_") for case in DEFAULTS)
        return cls.from_names(**{field: getattr(options, f"state_if_{field}")
                                 for field in fields})

    def for_identity(self, identity: DomainIdentity) -> Optional[Verdict]:
        """The verdict for a domain that is not running; None when it runs."""
        if identity.is_active:
            return None
        case = case_of(identity)
        state = getattr(self, case) if case else Unknown
        return Verdict(state, f"{identity.name}: {state_words(identity)}")

    def for_missing(self, message: str) -> Verdict:
        """The verdict for a domain that does not exist."""
        return Verdict(self.missing, message)
