# The README's two commands. Each sets up .venv itself (scripts/bootstrap.sh).
PACKAGES := dms model synth train export calibration runtime deploy

.PHONY: demo test setup typecheck

setup:
	bash scripts/bootstrap.sh

demo: setup
	.venv/bin/dms demo

# Type check first, tests last, so that the suite's summary is the final line.
test: setup
	.venv/bin/mypy $(PACKAGES)
	.venv/bin/python -m pytest -q
