# audiovae: `make demo` trains the embedded default; `make test` runs the test suite.
# Both create .venv on first use (pip only: it uses the local wheel cache).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean bench bench-quick

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/audiovae train recipes/synthetic.yaml --out runs/demo \
		$$(test -f runs/demo/checkpoints/last.safetensors && echo --resume)
	$(BIN)/audiovae report runs/demo -o runs/demo/report.html

test: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| { echo 'make test: the report test needs chromium; install it (Debian: sudo apt-get install chromium)'; exit 1; }
	$(BIN)/python -c 'import fluidsynth' 2>/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfluidsynth3) \
		|| { echo 'make test: the SoundFont tests need the FluidSynth library; install it (Debian: sudo apt-get install libfluidsynth3; macOS: brew install fluid-synth)'; exit 1; }
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q

bench: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python benchmarks/suite.py

bench-quick: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python benchmarks/suite.py --quick

lint: $(STAMP)
	$(BIN)/ruff check audiovae tests benchmarks
	$(BIN)/ruff format --check audiovae tests benchmarks

clean:
	rm -rf runs .audiovae-cache .pytest_cache
