"""Package tier: the Debian package built, installed and run by the daemons as packaged."""
