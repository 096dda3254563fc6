# The two commands of README.md: `make demo` (the main job) and `make test`.
# Both set up what they need on a fresh Debian machine as root (see scripts/setup.sh).

PY := .venv/bin/python
export IVR_AMI_SECRET ?= sandbox-$(shell cat /proc/sys/kernel/random/uuid 2>/dev/null | cut -c1-12)

.PHONY: setup demo test unit integration bench clean

setup: .venv/.installed
	$(PY) -m hotline_lab sandbox build

.venv/.installed: pyproject.toml lab/pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

demo: setup
	$(PY) -m hotline_lab demo $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -q -p no:cacheprovider tests

unit: .venv/.installed
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

integration: setup
	$(PY) -m pytest -q -p no:cacheprovider tests/integration

# The benchmarks only: bench/ also holds their helpers (engine_run.py, agi_classic.py, ...),
# which wait for arguments or an AGI session on stdin.
BENCHMARKS := acd crm speech load planning kb desk
bench: setup
	for b in $(BENCHMARKS); do $(PY) bench/$$b.py || exit 1; done

clean:
	$(PY) -m hotline_lab sandbox down || true
	rm -rf .venv var
