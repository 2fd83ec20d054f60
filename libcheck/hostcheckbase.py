"""The contract between a check of a hypervisor and its runtime (hostruntime.py).

A check of a whole hypervisor (check_vm_host, check_vm_pool) has no domain
and measures no rates: it observes the host once (`observe`), turns what it
saw into readings of its declared metrics, which the thresholds judge as a
VM check's are, and into problems (a VM crashed, a pool inactive), each with
the state an option gives it.  The worst problems lead the status line; the
long output lists them all.
"""

from __future__ import annotations

from nagiosplugin.state import ServiceState

from libcheck.checkbase import CheckDefinition
from libcheck.evaluation import Reading
from libcheck.records import NamedTuple
from libcheck.registry import HOST_SCOPE
from libcheck.thresholds import Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping, Optional


class Problem(NamedTuple):
    """Something wrong on the host, with the state its option gives it and
    the words that name it (`web1: crashed`)."""

    state: ServiceState
    text: str


class HostSource:
    """Where a check of a hypervisor reads from: `summary()` serves the
    hypervisor's summary (the host snapshot's, or a direct read), and
    `inspector()` opens libvirt for what no snapshot holds (storage pools).
    Both are made by the runtime and opened only when asked for."""

    def __init__(self, uri: str, summary, inspector) -> None:
        self.uri = uri
        self.summary = summary
        self.inspector = inspector


class HostCheck(CheckDefinition):
    """One check of a hypervisor: its options, what it observes, its labels.

    Subclasses set `name`, `description`, `metrics` and `Options`
    (`CheckDefinition`) and `uses_snapshot` (it takes --state-dir and
    --snapshot-max-age), and implement the hooks without a default.
    """

    scope = HOST_SCOPE
    uses_snapshot: bool = False
    # Threshold labels the check also takes for a generic one (usage for pool_usage).
    label_aliases: Mapping[str, str] = {}

    def observe(self, source: HostSource, options: Any) -> Any:
        """Read the host once: what the other hooks are handed."""
        raise NotImplementedError

    def subject(self, observed: Any, source: HostSource) -> str:
        """What the status line names before its colon (the URI by default)."""
        return source.uri

    def devices(self, observed: Any) -> dict[str, list[str]]:
        """The devices a threshold label may name, by kind (none by default)."""
        return {}

    def readings(self, observed: Any, options: Any) -> list[Reading]:
        """The values of the run, to judge and to print."""
        raise NotImplementedError

    def problems(self, observed: Any, options: Any) -> list[Problem]:
        """What is wrong, each with its state (none by default)."""
        return []

    def ok_text(self, observed: Any, readings: list[Reading]) -> str:
        """The status line when nothing is wrong."""
        raise NotImplementedError

    def details(self, observed: Any, options: Any) -> list[str]:
        """More lines for -v (none by default)."""
        return []

    def notes(self, observed: Any, options: Any) -> list[str]:
        """Lines for every run's long output, after the problems (none by default)."""
        return []

    def unmeasured_reason(self, observed: Any, options: Any,
                          target: Target) -> Optional[str]:
        """Why a label has no value in this run, None where the check does not know."""
        return None
