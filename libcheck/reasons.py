"""Why a domain is in its state, in words: libvirt's state reasons.

libvirt gives every state a reason number, one enum per state
(virDomainRunningReason, virDomainPausedReason, virDomainShutoffReason,
virDomainShutdownReason, virDomainCrashedReason; virDomainPMSuspendedReason,
like the enums of the blocked and no-state states, knows only "unknown").  The numbers are
part of libvirt's stable API, so they are written out here rather than read
from the libvirt module, which only the inspector imports.  Reason 0 is
"unknown" in every enum and adds no words; a number that a newer libvirt
added is named by its number.
"""

from __future__ import annotations

import enum

from libcheck.samples import DomainState


class Running(enum.IntEnum):
    """virDomainRunningReason (VIR_DOMAIN_RUNNING_*)."""

    UNKNOWN = 0
    BOOTED = 1
    MIGRATED = 2
    RESTORED = 3
    FROM_SNAPSHOT = 4
    UNPAUSED = 5
    MIGRATION_CANCELED = 6
    SAVE_CANCELED = 7
    WAKEUP = 8
    CRASHED = 9
    POSTCOPY = 10
    POSTCOPY_FAILED = 11


class Paused(enum.IntEnum):
    """virDomainPausedReason (VIR_DOMAIN_PAUSED_*)."""

    UNKNOWN = 0
    USER = 1
    MIGRATION = 2
    SAVE = 3
    DUMP = 4
    IOERROR = 5
    WATCHDOG = 6
    FROM_SNAPSHOT = 7
    SHUTTING_DOWN = 8
    SNAPSHOT = 9
    CRASHED = 10
    STARTING_UP = 11
    POSTCOPY = 12
    POSTCOPY_FAILED = 13
    API_ERROR = 14


class Shutoff(enum.IntEnum):
    """virDomainShutoffReason (VIR_DOMAIN_SHUTOFF_*)."""

    UNKNOWN = 0
    SHUTDOWN = 1
    DESTROYED = 2
    CRASHED = 3
    MIGRATED = 4
    SAVED = 5
    FAILED = 6
    FROM_SNAPSHOT = 7
    DAEMON = 8


class Shutdown(enum.IntEnum):
    """virDomainShutdownReason (VIR_DOMAIN_SHUTDOWN_*)."""

    UNKNOWN = 0
    USER = 1


class Crashed(enum.IntEnum):
    """virDomainCrashedReason (VIR_DOMAIN_CRASHED_*)."""

    UNKNOWN = 0
    PANICKED = 1


_WORDS: dict[DomainState, dict[int, str]] = {
    DomainState.RUNNING: {
        Running.BOOTED: "booted",
        Running.MIGRATED: "migrated here",
        Running.RESTORED: "restored from a file",
        Running.FROM_SNAPSHOT: "reverted to a snapshot",
        Running.UNPAUSED: "resumed",
        Running.MIGRATION_CANCELED: "after a canceled migration",
        Running.SAVE_CANCELED: "after a canceled save",
        Running.WAKEUP: "woken up",
        Running.CRASHED: "after the guest crashed",
        Running.POSTCOPY: "in a post-copy migration",
        Running.POSTCOPY_FAILED: "after a failed post-copy migration",
    },
    DomainState.PAUSED: {
        Paused.USER: "by the user",
        Paused.MIGRATION: "for a migration",
        Paused.SAVE: "while being saved to a file",
        Paused.DUMP: "for a core dump",
        Paused.IOERROR: "by a disk I/O error: host storage full or failing?",
        Paused.WATCHDOG: "by its watchdog: the guest stopped responding",
        Paused.FROM_SNAPSHOT: "after a revert to a snapshot",
        Paused.SHUTTING_DOWN: "while shutting down",
        Paused.SNAPSHOT: "while a snapshot is taken",
        Paused.CRASHED: "after the guest crashed",
        Paused.STARTING_UP: "while starting",
        Paused.POSTCOPY: "for a post-copy migration: it runs on the destination",
        Paused.POSTCOPY_FAILED: "after a failed post-copy migration",
        Paused.API_ERROR: "after an operation failed to resume it",
    },
    DomainState.SHUTOFF: {
        Shutoff.SHUTDOWN: "a normal shutdown",
        Shutoff.DESTROYED: "destroyed",
        Shutoff.CRASHED: "crashed: QEMU ended unexpectedly or the guest panicked",
        Shutoff.MIGRATED: "migrated to another host",
        Shutoff.SAVED: "saved to a file",
        Shutoff.FAILED: "failed to start",
        Shutoff.FROM_SNAPSHOT: "by a snapshot: halted after one, or reverted to one",
        Shutoff.DAEMON: "killed by libvirtd while it reconnected",
    },
    DomainState.SHUTDOWN: {Shutdown.USER: "on a user's request"},
    DomainState.CRASHED: {Crashed.PANICKED: "the guest kernel panicked"},
}


def reason_words(state: DomainState, reason: int) -> str:
    """Why the domain is in `state`; empty when libvirt does not say."""
    if not reason:
        return ""
    return _WORDS.get(state, {}).get(reason, f"libvirt reason {reason}")


def describe(state: DomainState, reason: int) -> str:
    """The state and, where libvirt gives one, its reason: "paused (by the user)"."""
    why = reason_words(state, reason)
    return f"{state.words} ({why})" if why else state.words
