# The two commands of the README. Both set everything up first (idempotent).
XVFB = xvfb-run -a -s "-screen 0 1280x1024x24"  # the demo's virtual screen

.PHONY: setup demo test lint
setup:
	@bash scripts/setup.sh

demo: setup
	$(XVFB) .venv/bin/coaffect demo

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy  # files and settings: [tool.mypy] in pyproject.toml

# Two passes, each with a private Xvfb per process (--own-xvfb): the independent majority on
# TEST_WORKERS pytest-xdist workers (tests sharing an expensive fixture stay on one worker:
# --dist loadgroup), then the timing-sensitive tests (marker 'serial') alone. Both passes run,
# both print their 25 slowest tests and their wall and CPU time (bash's time: user + system
# seconds of the pass's processes; the CPU time over the cores is the pass's floor on this
# machine); the target fails if either failed.
SHELL := /bin/bash
TEST_WORKERS ?= 2
PYTEST = .venv/bin/python -m pytest --own-xvfb

test: lint
	status=0; \
	TIMEFORMAT="parallel pass: %R s wall, %U s user + %S s system CPU"; \
	time $(PYTEST) -n $(TEST_WORKERS) --dist loadgroup -m "not serial" || status=$$?; \
	TIMEFORMAT="serial pass: %R s wall, %U s user + %S s system CPU"; \
	time $(PYTEST) -m serial || status=$$?; \
	exit $$status
