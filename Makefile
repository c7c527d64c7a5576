# Everything from a fresh clone: `make demo`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export AMENT_PREFIX_PATH := $(abspath $(VENV))
export FASTDDS_DEFAULT_PROFILES_FILE := $(abspath peoplesemseg_ros/data/fastdds_profile.xml)
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
# MediaPipe selfie segmentation (Apache-2.0), the peer we benchmark against and the
# starting point of the fast model: unpacked from its npm package (training / dev only).
MEDIAPIPE_NPM := @mediapipe/selfie_segmentation@0.1.1675465747
MEDIAPIPE_DIR := $(VENV)/share/peoplesemseg/mediapipe
MEDIAPIPE_STAMP := $(MEDIAPIPE_DIR)/selfie_segmentation_landscape.tflite

.PHONY: help install install-dev demo test lint typecheck pytest clean constraints figures

help:
	@echo "make demo   - install (.venv) and run the live node on the shipped sample"
	@echo "make test   - install dev tools and run ruff, mypy and pytest"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(RUNTIME_STAMP): $(VENV)/bin/python requirements.txt constraints.txt setup.py
	$(PIP) install -q -c constraints.txt -r requirements.txt
	$(PIP) install -q -c constraints.txt --no-deps -e .
	touch $@

$(MEDIAPIPE_STAMP): | $(VENV)/bin/python
	mkdir -p $(MEDIAPIPE_DIR)
	cd $(MEDIAPIPE_DIR) && npm pack --silent $(MEDIAPIPE_NPM) > /dev/null \
	  && tar xzmf mediapipe-selfie_segmentation-*.tgz --strip-components=1 \
	     package/selfie_segmentation_landscape.tflite package/selfie_segmentation.tflite \
	     package/package.json package/README.md \
	  && rm mediapipe-selfie_segmentation-*.tgz

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.txt $(MEDIAPIPE_STAMP)
	$(PIP) install -q -c constraints.txt -r requirements-dev.txt
	touch $@

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

demo: $(RUNTIME_STAMP)
	$(VENV)/bin/peoplesemseg demo --out demo_output

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check peoplesemseg_ros test tools launch setup.py

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy

pytest: $(DEV_STAMP)
	$(PY) -m pytest

test: lint typecheck pytest

# Regenerate the README's pictures (deterministic; the overlay comes from the live demo).
figures: $(DEV_STAMP)
	$(PY) tools/occupancy_figure.py
	$(VENV)/bin/peoplesemseg demo --out demo_output
	cp demo_output/overlays/frame_0128.png docs/demo_overlay.png

constraints: $(DEV_STAMP)
	$(PIP) freeze --exclude-editable | grep -v -i peoplesemseg | sort | sed 's/+cpu$$//' > constraints.txt

clean:
	rm -rf $(VENV) demo_output .mypy_cache .ruff_cache .pytest_cache build *.egg-info
