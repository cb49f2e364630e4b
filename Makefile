# The two commands of the README. Both set everything up first (idempotent).
XVFB = xvfb-run -a -s "-screen 0 1280x1024x24"

.PHONY: setup demo test
setup:
	@bash scripts/setup.sh

demo: setup
	$(XVFB) .venv/bin/coaffect demo

test: setup
	$(XVFB) .venv/bin/python -m pytest
