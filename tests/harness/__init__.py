"""The test harness: what the tiers (tests/<tier>/) and bench/ drive the checks with.

A package of its own, importable as `harness`: pytest puts tests/ on the path
(pyproject's `pythonpath`), and the Makefile runs bench/ with PYTHONPATH=tests
(see bench/__init__.py). Tiers import the harness, never each other.

- checkrun, asuser: the real executables run as subprocesses (as root or as
  nobody) and their output parsed; paths: where the checkout's parts are;
  checknames: the registered checks (libcheck.registry) under the names the
  tiers use, so that a tier going over every check takes them from there.
- fakes: libvirt fakes for the unit and fault tiers; faultkit, snapshotkit,
  testnode: fault injection, host-snapshot helpers, test-driver node files.
- skips, polling: the one skip-or-fail rule (CI=true fails) and the one
  bounded poll.
- vm: the real hypervisor (a private libvirtd in a network namespace) and the
  commanded QEMU guest.
- icinga: Icinga 2 and Nagios daemons run privately in the foreground.
- cluster: an Icinga 2 master and agents; graphs: carbon, graphite-web and
  InfluxDB run privately, and a graphing run; package: the Debian package
  built, installed and run by Debian's daemons.
"""
