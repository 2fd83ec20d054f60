"""An Icinga 2 master and agents with their own certificates, on loopback."""
