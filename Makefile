# The newcomer's two commands: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install browser demo test unit bench clean

$(BIN)/unify: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 not found as '$(PYTHON)'; run: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/unify

demo: install
	$(BIN)/unify demo

# The dashboard test drives a real headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "the dashboard test needs Chromium: sudo apt-get install chromium"; exit 1; fi; }

test: install browser
	$(BIN)/python -m pytest

bench: install
	$(BIN)/unify bench

unit: install
	$(BIN)/python -m pytest -m "not integration"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache unify-demo
