"""Icinga tier: the shipped Icinga 2 and Nagios configuration, proven by the real daemons."""
