"""The few failures a check reports as UNKNOWN, each with a one-line message.

Every libvirt error is translated into one of these in the inspector, so no
other module needs to know libvirt's error codes.
"""

from __future__ import annotations


class CheckError(Exception):
    """A failure that ends the check with UNKNOWN and a one-line message."""


class UsageError(CheckError):
    """The command line asks for something impossible or malformed."""


class ConnectionFailed(CheckError):
    """libvirt could not be reached; the message carries a hint to fix it."""


class DomainNotFound(CheckError):
    """No domain matches the name, UUID or ID given."""

    @classmethod
    def of(cls, reference: str, uri: str) -> DomainNotFound:
        """The error for `reference` on `uri`, saying how to find the right one."""
        return cls(f"no domain '{reference}' on {uri} (give its name, UUID or ID "
                   f"as `virsh -r -c {uri} list --all` shows them)")


class DomainVanished(CheckError):
    """The domain stopped or disappeared while it was being sampled."""


class LibvirtFailure(CheckError):
    """Any other libvirt error, passed on in one line."""
