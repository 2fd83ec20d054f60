"""A guest made to pause on a full disk: a write on a thread of its own, and
the wait for the pause (QEMU pauses the guest on ENOSPC, before the write
answers)."""

from __future__ import annotations

import threading
from typing import Optional

import libvirt

from harness.polling import poll
from harness.vm.channel import ChannelError
from harness.vm.domains import Guest


def write_in_the_background(vm: Guest, disk: str, mib: int, timeout: float,
                            replies: Optional[list] = None) -> threading.Thread:
    """Start `write DISK MIB` in the guest; its reply, or the channel's error,
    lands in `replies` when given (a guest destroyed while paused never replies)."""
    def write() -> None:
        try:
            reply = vm.command(f"write {disk} {mib}", timeout=timeout)
        except ChannelError as exc:
            reply = exc
        if replies is not None:
            replies.append(reply)
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def wait_for_pause(vm: Guest, timeout: float) -> list[int]:
    """The guest's [state, reason] once it is paused; AssertionError, with its
    console's tail, when it does not pause within `timeout` seconds."""
    def paused() -> Optional[list[int]]:
        state = vm.domain.state()
        return state if state[0] == libvirt.VIR_DOMAIN_PAUSED else None
    state = poll(paused, timeout, 0.2)
    if state is None:
        raise AssertionError(f"{vm.name} did not pause within {timeout} s: "
                             f"{vm.domain.state()}; {vm.console_tail()}")
    return state
