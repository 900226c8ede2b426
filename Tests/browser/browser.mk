# Browser test of the web page at / (Tests/browser/test_web_page.py). Include from the top Makefile:
#   include Tests/browser/browser.mk
# Uses SUDO, VENV, PY and the `venv` target defined there.
#   make test-browser                                         default weights (Weights/synthbirds)
#   make test-browser MIRRORGAN_WEIGHTS=/path/to/model_dir    another model directory
# Writes the README screenshot docs/images/web_page.png (MIRRORGAN_SCREENSHOT= to skip, or another path).
MIRRORGAN_BIN ?= $(CURDIR)/.build/release/mirrorgan
MIRRORGAN_WEIGHTS ?= $(CURDIR)/Weights/synthbirds
MIRRORGAN_SCREENSHOT ?= $(CURDIR)/docs/images/web_page.png

.PHONY: browser-deps test-browser

# Debian's chromium and its driver, installed only when chromium is missing; selenium into the toolkit's venv.
browser-deps: venv
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  echo "installing: chromium chromium-driver"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; fi
	@$(PY) -c "import selenium" 2>/dev/null || $(PY) -m pip install -q selenium

test-browser: browser-deps build
	MIRRORGAN_BIN="$(MIRRORGAN_BIN)" MIRRORGAN_WEIGHTS="$(MIRRORGAN_WEIGHTS)" \
	  MIRRORGAN_SCREENSHOT="$(MIRRORGAN_SCREENSHOT)" \
	  $(PY) -m pytest -v -p no:cacheprovider Tests/browser
