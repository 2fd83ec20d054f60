"""`make bench`: snapshot hit, refresh and direct read against Debian's check_libvirt and
the floor (the plugin framework's import), what a hit imports beyond the floor, and the
libvirt calls per refresh window (entry: bench.snapshot.run)."""
