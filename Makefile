# capstan.fleet — the two commands a newcomer runs:
#   make demo   sets everything up, starts the lab and runs the main playbook on it
#   make test   sets everything up and runs every test (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COLL_ROOT := .build/collections
COLL_LINK := $(COLL_ROOT)/ansible_collections/capstan/fleet
SANITY_ROOT := .build/sanity/ansible_collections/capstan/fleet
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test venv collection lab-up lab-down lab-status unit integration molecule sanity lint build-check clean

demo: venv collection ## start the lab and run the main playbook against inventories/lab
	$(BIN)/ansible-playbook playbooks/lab.yml -e lab_state=up
	$(BIN)/ansible-playbook -i inventories/lab playbooks/site.yml
	$(BIN)/ansible-playbook -i inventories/lab playbooks/inspect_tenants.yml

test: venv collection ## every test: unit, integration (real lab), sanity, lint, build
	$(BIN)/python -m pytest tests
	$(MAKE) --no-print-directory molecule sanity lint build-check

venv: $(VENV)/.stamp
$(VENV)/.stamp: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

collection: $(COLL_LINK)
$(COLL_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

LAB := PYTHONPATH=$(CURDIR)/tools $(BIN)/python -m capstan_lab
lab-up: venv
	$(LAB) up
lab-down: venv
	$(LAB) down
lab-status: venv
	$(LAB) status

unit: venv collection
	$(BIN)/python -m pytest tests/unit

integration: venv collection
	$(BIN)/python -m pytest tests/integration

# ansible-test wants the collection at ansible_collections/<ns>/<name> with no symlink
# on the way: sanity runs on a copy of the files git knows.
sanity: venv
	$(BIN)/python tests/sanity/seed_get_pip.py
	rm -rf .build/sanity && mkdir -p $(SANITY_ROOT)
	git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t $(SANITY_ROOT)
	cd $(SANITY_ROOT) && git init -q && git add -A && \
	  $(CURDIR)/$(BIN)/ansible-test sanity --color no --python 3.11 --requirements

# the lab as molecule's platform: create/converge/idempotence/verify/destroy
molecule: venv collection
	$(BIN)/molecule test --all

lint: venv collection
	$(BIN)/ansible-lint

build-check: venv
	bash tests/build_check.sh

clean:
	rm -rf .build $(VENV)
