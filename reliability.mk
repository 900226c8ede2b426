# Reliability and security checks (docs/RELIABILITY.md). Included from the top-level Makefile.
#   make fuzz            libFuzzer harnesses, FUZZ_SECONDS (60) each: png jpeg webp json multipart base64 tokenizer safetensors
#   make fuzz-ci         the same, FUZZ_CI_SECONDS (15) each
#   make test-sanitize   the Swift test suite under AddressSanitizer (+ UBSan for the C targets), debug build
#   make reliability     overload, soak, faults, auth against the real server binary and weights
#   make reliability-ci  the same with CI budgets (20 s overload, 200 soak requests)
#   make reliability-asan hostile wire traffic, auth and a short overload against the ASan build of the server
# Knobs: MIRRORGAN_BIN (default .build/release/mirrorgan, built if it is the default), MIRRORGAN_WEIGHTS
# (Weights/synthbirds), RELIABILITY_NICE (e.g. "nice -n 19" on a shared machine), FUZZ_TARGETS.
MIRRORGAN_BIN ?= .build/release/mirrorgan
MIRRORGAN_WEIGHTS ?= Weights/synthbirds
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 15
FUZZ_TARGETS ?= png jpeg webp json multipart base64 tokenizer safetensors
OVERLOAD_SECONDS ?= 60
SOAK_REQUESTS ?= 1000
SOAK_SAMPLE ?= 100
WIRE_MUTANTS ?= 400
RELIABILITY_NICE ?=
REL_PY ?= training/.venv/bin/python
REL_ENV = MIRRORGAN_BIN=$(MIRRORGAN_BIN) MIRRORGAN_WEIGHTS=$(MIRRORGAN_WEIGHTS)
ASAN_SCRATCH ?= .build-asan
SANITIZE_FLAGS := --sanitize=address -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined

.PHONY: fuzz-build fuzz fuzz-ci fuzz-corpus test-sanitize reliability reliability-ci reliability-bin \
        test-overload test-soak test-faults test-auth test-wire reliability-asan

fuzz-build: deps
	$(RELIABILITY_NICE) fuzz/build.sh $(FUZZ_TARGETS)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_NICE="$(RELIABILITY_NICE)" fuzz/run.sh $(FUZZ_TARGETS)

fuzz-ci: fuzz-build
	FUZZ_SECONDS=$(FUZZ_CI_SECONDS) FUZZ_NICE="$(RELIABILITY_NICE)" fuzz/run.sh $(FUZZ_TARGETS)

# Regenerates the committed seed corpora (PIL, numpy, safetensors from the toolkit's venv).
fuzz-corpus: venv
	$(REL_PY) fuzz/make_corpus.py

# swiftc has no UBSan on Linux, so UBSan covers the C targets (CHTTP, CPNGShim) and ASan everything.
# Debug, so Swift's own checks stay on (the release build of the runtime is -Ounchecked).
# ConvertedParityTests is skipped here, not in `make test`: its full-size Inception-v3 and ResNet-152 passes (17 GMAC
# per image, several per test) ran for over 25 minutes in this debug ASan build and would take CI past its budget.
# The same trunk code runs under ASan through the kernel tests (pooling, Winograd with the ReLU epilogue at the
# trunks' odd sizes, im2col) and ConvertedLoadingTests; the parity itself runs in the release suite of `make test`.
test-sanitize: deps
	$(RELIABILITY_NICE) swift build --build-tests -c debug $(SANITIZE_FLAGS) --scratch-path $(ASAN_SCRATCH)
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/reliability/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
	  $(RELIABILITY_NICE) swift test -c debug $(SANITIZE_FLAGS) --scratch-path $(ASAN_SCRATCH) \
	  --skip ConvertedParityTests

# The default binary is (re)built first; another MIRRORGAN_BIN is used as it is.
reliability-bin:
ifneq ($(RELIABILITY_SKIP_BUILD),1)
ifeq ($(abspath $(MIRRORGAN_BIN)),$(CURDIR)/.build/release/mirrorgan)
reliability-bin: build
endif
endif

test-overload: reliability-bin
	$(REL_ENV) OVERLOAD_SECONDS=$(OVERLOAD_SECONDS) $(RELIABILITY_NICE) $(REL_PY) Tests/reliability/test_overload.py
test-soak: reliability-bin
	$(REL_ENV) SOAK_REQUESTS=$(SOAK_REQUESTS) SOAK_SAMPLE=$(SOAK_SAMPLE) $(RELIABILITY_NICE) $(REL_PY) Tests/reliability/test_soak.py
test-faults: reliability-bin venv
	$(REL_ENV) $(RELIABILITY_NICE) $(REL_PY) Tests/reliability/test_faults.py
test-auth: reliability-bin
	$(REL_ENV) $(RELIABILITY_NICE) $(REL_PY) Tests/reliability/test_auth.py

test-wire: reliability-bin
	$(REL_ENV) WIRE_MUTANTS=$(WIRE_MUTANTS) $(RELIABILITY_NICE) $(REL_PY) Tests/reliability/test_wire.py

# Runs all of them even if one fails, then fails if any did.
reliability: reliability-bin venv
	@rc=0; for t in test-overload test-soak test-faults test-auth test-wire; do \
	  $(MAKE) -f $(firstword $(MAKEFILE_LIST)) --no-print-directory $$t RELIABILITY_SKIP_BUILD=1 || rc=1; done; exit $$rc

reliability-ci:
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) --no-print-directory reliability OVERLOAD_SECONDS=20 SOAK_REQUESTS=200 SOAK_SAMPLE=50

# The server built with ASan (+ UBSan in the C layer) under hostile and heavy traffic: any sanitizer report in
# its stderr fails the test. Debug build, so inference is slow: short budgets.
ASAN_BIN := $(ASAN_SCRATCH)/debug/mirrorgan
reliability-asan: deps
	$(RELIABILITY_NICE) swift build -c debug $(SANITIZE_FLAGS) --scratch-path $(ASAN_SCRATCH) --product mirrorgan
	@rc=0; for t in test_wire test_auth test_overload; do \
	  MIRRORGAN_BIN=$(ASAN_BIN) MIRRORGAN_WEIGHTS=$(MIRRORGAN_WEIGHTS) RELIABILITY_OUT=.build-reliability/asan \
	  OVERLOAD_SECONDS=20 $(RELIABILITY_NICE) $(REL_PY) Tests/reliability/$$t.py || rc=1; done; exit $$rc
