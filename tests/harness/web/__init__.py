"""The web tier's stack: Icinga Web 2 with the Director and the graphite module, on loopback.

MariaDB, icinga2 (a master and its agents, with the IDO), carbon and
graphite-web, Apache with Icinga Web 2, the Director's CLI and daemon, and a
headless Chromium to look at it; each daemon as its packaged user where Debian
has one, on free loopback ports, started in a session of its own and stopped
by PID.
"""
