# The two commands of the README. Both set everything up first (idempotent).
XVFB = xvfb-run -a -s "-screen 0 1280x1024x24"

.PHONY: setup demo test lint
setup:
	@bash scripts/setup.sh

demo: setup
	$(XVFB) .venv/bin/coaffect demo

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy  # files and settings: [tool.mypy] in pyproject.toml

test: lint
	$(XVFB) .venv/bin/python -m pytest
