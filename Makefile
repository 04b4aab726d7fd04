# Two entry points: `make run` and `make test`. Each creates .venv when missing and installs what it needs.
# Runtime packages come from requirements.txt, every one pinned with its hash (--require-hashes).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test bench clean lock sbom audit run-hardened

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q --require-hashes -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) app.py

test: $(VENV)/.dev
	$(PY) -m pytest

bench: $(VENV)/.dev
	$(PY) benchmarks/portrait_bench.py
	$(PY) benchmarks/render_bench.py
	$(PY) benchmarks/voice_bench.py

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
	rm -rf $(VENV) .pytest_cache
