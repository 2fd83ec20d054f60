"""The benchmarks: what the checks cost, measured on this machine (not tests).

- snapshot (`make bench`): snapshot hit, refresh and direct read of the
  installed package and the virtualenv, beside Debian's check_libvirt and
  the floor (the plugin framework's import), what a hit imports beyond the
  floor, and the libvirt calls per refresh window;
- fleet (`make fleet`): an Icinga 2 master and agents, each checking a
  test-driver hypervisor of many VMs, with the host snapshot on and off;
- profiling: where one check's time goes, and the state file's cost;
- common: what they share (the package installed, timing of a process, the
  results file, the tiers' lock).

bench/ is a package that imports the test harness as a package of its own:
`harness` lives in tests/harness, and the Makefile runs each benchmark from
the repository's root as a module with tests/ on the path, e.g.

    PYTHONPATH=tests .venv/bin/python -B -m bench.snapshot.run

so that `bench.*`, `harness.*` and `libcheck` import by their names, with no
sys.path edits. The processes a benchmark measures get no PYTHONPATH
(bench.common.machine.child_env). bench/snapshot/window.py and apitrace.py
are programs a benchmark runs by path in a child process; they import only
each other and libcheck.
"""
