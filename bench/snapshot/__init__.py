"""`make bench`: snapshot hit, refresh and direct read against Debian's check_libvirt, and
the libvirt calls per refresh window (entry: bench.snapshot.run)."""
