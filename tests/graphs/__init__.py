"""The graphing tier: Debian's real time-series databases, run privately on loopback."""
