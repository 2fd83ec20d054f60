"""Debian's time-series databases run privately on loopback, and a graphing run into them."""
