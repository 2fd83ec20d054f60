"""The few failures a check reports as UNKNOWN, each with a one-line message.

Every libvirt error is translated into one of these in the inspector, so no
other module needs to know libvirt's error codes.
"""


class CheckError(Exception):
    """A failure that ends the check with UNKNOWN and a one-line message."""


class UsageError(CheckError):
    """The command line asks for something impossible or malformed."""


class ConnectionFailed(CheckError):
    """libvirt could not be reached; the message carries a hint to fix it."""


class DomainNotFound(CheckError):
    """No domain matches the name, UUID or ID given."""


class DomainVanished(CheckError):
    """The domain stopped or disappeared while it was being sampled."""


class LibvirtFailure(CheckError):
    """Any other libvirt error, passed on in one line."""
