# All set-up happens here: a fresh machine with Python 3.11 needs nothing else.
# `make demo` installs what the demo needs (the package alone: no torch, cocotb or place-and-route);
# `make test` adds the extras the whole test suite needs (pyproject.toml: golden, sim, build, test).
# --no-compile: modules are byte-compiled when first imported, not all of torch's at install time.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
JOBS   ?= 2

.PHONY: demo test fidelity clean

$(VENV)/.created:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.installed-demo: pyproject.toml $(VENV)/.created
	$(PY) -m pip install --quiet --no-compile -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.created
	$(PY) -m pip install --quiet --no-compile -e ".[test]"
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(VENV)/bin/mmfree run --max-tokens 12

test: $(VENV)/.installed-test
	$(PY) -m pytest -q -n $(JOBS)

fidelity: $(VENV)/.installed-test
	$(VENV)/bin/mmfree fidelity

clean:
	rm -rf $(VENV) build sim_build *.egg-info
