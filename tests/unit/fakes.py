"""The fakes under their former name: harness.fakes, for the tests that import `fakes`."""

from harness.fakes import (  # noqa: F401
    NS,
    UUID,
    FakeClock,
    FakeConnection,
    FakeDomain,
    libvirt_error,
)
