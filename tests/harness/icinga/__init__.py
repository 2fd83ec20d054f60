"""Icinga 2 and Nagios run privately: config validation, foreground daemons, scenarios."""
