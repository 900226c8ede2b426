# make bench: the Swift runtime, PyTorch (eager) and ONNX Runtime side by side, one run, same machine,
# threads, weights and inputs (training/mirrorgan_train/bench.py; results go to docs/PERFORMANCE.md).
#   make bench                        both configurations (official-birds random weights; Weights/synthbirds)
#   make bench BENCH_THREADS=1 BENCH_ITERATIONS=9 BENCH_CONFIGS=official-birds
#   make bench-swift                  the Swift side alone (mirrorgan bench)
VENV ?= training/.venv
PY ?= $(VENV)/bin/python
BENCH_THREADS ?= $(or $(THREADS),2)
BENCH_ITERATIONS ?= 5
BENCH_CONFIGS ?= official-birds,default
BENCH_DOC ?= docs/PERFORMANCE.md

.PHONY: bench bench-swift

$(VENV)/.bench-ok: training/requirements-bench.txt | venv
	$(PY) -m pip install -q -r training/requirements-bench.txt
	touch $@

bench: $(VENV)/.bench-ok
	swift build -c release
	$(PY) -m mirrorgan_train.bench --threads $(BENCH_THREADS) --iterations $(BENCH_ITERATIONS) \
	  --configs $(BENCH_CONFIGS) --swift .build/release/mirrorgan --write-docs $(BENCH_DOC)

bench-swift:
	swift build -c release
	.build/release/mirrorgan bench --config official-birds --threads $(BENCH_THREADS) --iterations $(BENCH_ITERATIONS)
