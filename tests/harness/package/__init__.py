"""The Debian package built, installed, and run by Debian's own icinga2 and nagios4."""
