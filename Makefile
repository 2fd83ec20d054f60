# The two commands of the README: `make demo` and `make test`.
.PHONY: setup demo test lint unit quick bench fleet deb graphs web

setup:
	@sh scripts/setup.sh

demo: setup
	@sh scripts/demo.sh

# The benchmarks run from the root as modules of the bench package, with tests/ on the
# path for the test harness they reuse (bench/__init__.py).
BENCH_PYTHON = PYTHONPATH=tests .venv/bin/python -B

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

test: lint
	.venv/bin/pytest

# The inner loop (HACKING.md): no daemon, no root, no guest.
unit: setup
	.venv/bin/ruff check .
	.venv/bin/pytest -q tests/unit

# The tiers that need only libvirt's test driver.
quick: lint
	.venv/bin/pytest -q tests/unit tests/testdriver tests/faults

# The benchmark: snapshot hit, refresh and direct read of the installed package and the
# virtualenv, paired with Debian's check_libvirt (about 10 minutes, as root; not a test).
bench: setup
	@command -v /usr/bin/time >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null)
	env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m compileall -q libcheck
	$(BENCH_PYTHON) -m bench.snapshot.run

# The fleet: an Icinga 2 master and 3 agents, each checking a test-driver hypervisor of
# 90 VMs every 60 s, with the host snapshot on and off (about 25 minutes, as root; not a test).
fleet: setup
	$(BENCH_PYTHON) -m bench.fleet.main

# The Debian package: dist/check-vm_<version>_all.deb, checked by lintian.
deb:
	@sh scripts/build-deb.sh

# PNGs of a real guest under commanded work, drawn by graphite-web, in docs/graphs/
# (a run of the graphing tier, a few minutes, as root).
graphs: setup
	.venv/bin/python scripts/graphs.py

# Icinga Web 2 with the Director and the graphite module over two test-driver
# hypervisors, on 127.0.0.1: prints the URL and a login, stops on Ctrl-C
# (as root; not a test). It installs and purges the package as the heavy tiers do:
# not while one of them runs.
web: setup
	@flock -n -E 75 /tmp/checkvm-heavy.lock env PYTHONPATH=tests .venv/bin/python -B \
		scripts/web.py || { rc=$$?; [ $$rc -ne 75 ] || \
		echo "make web: a heavy test tier holds /tmp/checkvm-heavy.lock" >&2; exit $$rc; }
