# All set-up happens here: a fresh machine with Python 3.11 needs nothing else.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test fidelity clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mmfree run --max-tokens 12

test: $(STAMP)
	$(PY) -m pytest -q

fidelity: $(STAMP)
	$(VENV)/bin/mmfree fidelity

clean:
	rm -rf $(VENV) build *.egg-info
