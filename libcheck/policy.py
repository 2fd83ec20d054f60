"""Domain state policy: what a check says about a VM that is not running.

A stopped VM is a problem, so nothing but a running VM is OK by default.
Each non-running case maps to a state that an option can change.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from nagiosplugin.state import Critical, Ok, ServiceState, Unknown, Warn

from libcheck.samples import DomainIdentity, DomainState

STATE_NAMES = {"ok": Ok, "warning": Warn, "critical": Critical, "unknown": Unknown}

DEFAULTS = {"stopped": "critical", "paused": "warning", "crashed": "critical",
            "missing": "critical"}

_CASE_OF_STATE = {
    DomainState.SHUTOFF: "stopped",
    DomainState.SHUTDOWN: "stopped",
    DomainState.PAUSED: "paused",
    DomainState.PMSUSPENDED: "paused",
    DomainState.CRASHED: "crashed",
}


class Verdict(NamedTuple):
    """A state and the words after the VM's name in the status line."""

    state: ServiceState
    text: str


class StatePolicy(NamedTuple):
    """The state to report for each non-running case."""

    stopped: ServiceState = Critical
    paused: ServiceState = Warn
    crashed: ServiceState = Critical
    missing: ServiceState = Critical

    @classmethod
    def from_names(cls, **names: str) -> StatePolicy:
        """Build from option values such as stopped='ok'."""
        return cls(**{case: STATE_NAMES[name] for case, name in names.items()})

    def for_identity(self, identity: DomainIdentity) -> Optional[Verdict]:
        """The verdict for a domain that is not running; None when it runs."""
        if identity.is_active:
            return None
        case = _CASE_OF_STATE.get(identity.state)
        state = getattr(self, case) if case else Unknown
        return Verdict(state, f"{identity.name}: {identity.state.words}")

    def for_missing(self, message: str) -> Verdict:
        """The verdict for a domain that does not exist."""
        return Verdict(self.missing, message)
