"""`make fleet`: an Icinga 2 master and agents checking test-driver hypervisors of many
VMs, with the host snapshot on and off (entry: bench.fleet.main)."""
