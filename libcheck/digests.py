"""SHA-256 digests of the state directory's file names.

Every run names its state file and the snapshot's parts by a digest.
hashlib loads OpenSSL for that, about 3 ms of a run that should cost a few;
CPython's own SHA-256 is built into the interpreter (`_sha256` up to 3.11,
`_sha2` since 3.12) and gives the same digest.  hashlib stays the fallback
for an interpreter built without it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:
        from _sha256 import sha256
    except ImportError:
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256


def sha256_hex(data: bytes) -> str:
    """The SHA-256 digest of `data` in hexadecimal."""
    return sha256(data).hexdigest()
