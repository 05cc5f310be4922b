# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# One thread: on a shared 2-core machine torch with 2 threads slows down sharply when another
# process takes a core (measured: 10 min 43 s vs 4 min 50 s for `make demo`).
export OMP_NUM_THREADS ?= 1

.PHONY: setup demo test test-slow lint bench clean

setup: $(VENV)/.fewshot-setup-done
$(VENV)/.fewshot-setup-done: pyproject.toml packaging/episodes/pyproject.toml scripts/setup_venv.sh
	bash scripts/setup_venv.sh

demo: setup  ## train ProtoNet on glyphs, evaluate 5-way 1/5-shot (trained and untrained)
	$(PY) -m fewshot train configs/glyphs_protonet.yaml

test: setup  ## the test suite CI runs (slow tests excluded)
	$(PY) -m pytest -q

test-slow: setup  ## only the tests marked slow
	$(PY) -m pytest -q -m slow

lint: setup
	$(PY) -m ruff check fewshot episodes tests scripts

bench: setup  ## speed benchmarks, alternatives side by side, ratios printed
	@for f in scripts/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
