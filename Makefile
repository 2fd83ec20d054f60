# The two commands of the README: `make demo` and `make test`.
.PHONY: setup demo test lint

setup:
	@sh scripts/setup.sh

demo: setup
	@sh scripts/demo.sh

lint: setup
	.venv/bin/ruff check .

test: lint
	.venv/bin/pytest
