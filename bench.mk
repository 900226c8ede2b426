# make bench: the Swift runtime, PyTorch (eager) and ONNX Runtime side by side, one run, same machine,
# weights and inputs, at 1 and 2 threads (training/mirrorgan_train/bench.py). Results replace the tables
# between the BENCH markers in docs/PERFORMANCE.md and README.md.
#   make bench                        every configuration (official-birds random weights; Weights/synthbirds;
#                                     converted-birds and converted-coco, the converter's layout, Swift only)
#   make bench BENCH_THREADS=2 BENCH_ITERATIONS=9 BENCH_CONFIGS=official-birds
#   make bench-swift                  the Swift side alone (mirrorgan bench)
# The Swift process runs with bench/alloccount.c preloaded to count heap allocations per request.
VENV ?= training/.venv
PY ?= $(VENV)/bin/python
BENCH_THREADS ?= 1,2
BENCH_ITERATIONS ?= 7
BENCH_CONFIGS ?= official-birds,default,converted-birds,converted-coco
BENCH_DOC ?= docs/PERFORMANCE.md
BENCH_README ?= README.md

.PHONY: bench bench-swift

$(VENV)/.bench-ok: training/requirements-bench.txt | venv
	$(PY) -m pip install -q -r training/requirements-bench.txt
	touch $@

.build/alloccount.so: bench/alloccount.c
	mkdir -p .build
	cc -O2 -shared -fPIC $< -o $@

bench: $(VENV)/.bench-ok .build/alloccount.so
	swift build -c release $(SWIFT_CPU_FLAGS)
	$(PY) -m mirrorgan_train.bench --threads $(BENCH_THREADS) --iterations $(BENCH_ITERATIONS) \
	  --configs $(BENCH_CONFIGS) --swift .build/release/mirrorgan --write-docs $(BENCH_DOC) --write-readme $(BENCH_README)

bench-swift:
	swift build -c release $(SWIFT_CPU_FLAGS)
	.build/release/mirrorgan bench --config official-birds --threads $(or $(THREADS),2) --iterations $(BENCH_ITERATIONS)
