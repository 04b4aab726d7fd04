# Two entry points: `make run` and `make test`. Each creates .venv when missing and installs what it needs.
# Runtime packages come from requirements.txt, every one pinned with its hash (--require-hashes).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test test-fast lint security bench clean lock sbom audit run-hardened

# The package itself goes in editable and without dependencies (they are the hashed requirements), so scripts
# and tests import it without touching sys.path.
$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q --require-hashes -r requirements.txt
	$(PIP) install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) app.py

# Lint and type-check first, then the whole suite.
test: lint
	$(PY) -m pytest

# Everything but the slow, browser and namespace tests: the loop to run on every edit (under 2 minutes here).
test-fast: lint
	$(PY) -m pytest -m "not slow and not browser and not namespaces" -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The adversarial probe against a fresh server, with its counts.
security: $(VENV)/.dev
	$(PY) -m tests.security.probe

bench: $(VENV)/.dev
	$(PY) -m benchmarks.portrait_bench
	$(PY) -m benchmarks.render_bench
	$(PY) -m benchmarks.naturalness_bench
	$(PY) -m benchmarks.gate_margins --renders 8
	$(PY) -m benchmarks.voice_bench
	$(PY) -m benchmarks.load_bench
	$(PY) -m benchmarks.watermark_bench
	$(PY) -m benchmarks.cluster_bench

# Regenerate requirements.txt (with hashes) from the exact pins in requirements.in, and the CPU image's list.
lock: $(VENV)/.dev
	$(VENV)/bin/pip-compile --generate-hashes --allow-unsafe --strip-extras --no-header --no-emit-index-url \
		--no-emit-find-links --quiet -o requirements.txt requirements.in
	$(PY) deploy/cpu_requirements.py

# CycloneDX SBOM of the runtime environment.
sbom: $(VENV)/.dev
	$(VENV)/bin/cyclonedx-py environment --output-reproducible --of JSON -o sbom.cdx.json $(PY)
	@echo "wrote sbom.cdx.json"

# Known vulnerabilities in the pinned requirements (needs the vulnerability service; exit 3 when unreachable).
audit: $(VENV)/.dev
	bash deploy/audit.sh

# The app locked down with Linux namespaces (root needed); LINLY_OFFLINE=1 for no network at all.
run-hardened: $(VENV)/.runtime
	bash deploy/run-hardened.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache linly_demo.egg-info
