"""check_vm: agentless Nagios/Icinga checks for KVM/QEMU guests through libvirt."""

import sys

__version__ = "0.1.0"

if sys.flags.no_site:
    # The packaged executables start python3 -S (see libcheck.sitedirs): before
    # anything imports a third-party module, the site directories go on the path.
    from libcheck.sitedirs import add_site_directories

    add_site_directories()
