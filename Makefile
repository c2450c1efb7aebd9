# Two commands: `make run` (embedded Tollgate on this machine) and `make test` (whole suite).
PYTHON ?= python3
VENV   ?= .venv
ADMIN_EMAIL    ?= $(or $(TOLLGATE_ADMIN_EMAIL),admin@tollgate.local)
ADMIN_PASSWORD ?= $(or $(TOLLGATE_ADMIN_PASSWORD),tollgate-admin)
# Provider endpoints on loopback (the README tour's fakeupstream); empty would allow public only.
ALLOW_PRIVATE  ?= $(or $(TOLLGATE_ALLOW_PRIVATE_ENDPOINTS),127.0.0.0/8)

.PHONY: run test test-unit venv

venv:
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e .

run: venv
	@echo "Tollgate: API http://127.0.0.1:$${TOLLGATE_PORT:-8080}/  gateway http://127.0.0.1:$${TOLLGATE_PORT:-8080}/v1  data $${TOLLGATE_DATA_DIR:-./data}"
	@echo "First OWNER (created when no user exists yet): $(ADMIN_EMAIL) / $(ADMIN_PASSWORD)"
	TOLLGATE_ADMIN_EMAIL='$(ADMIN_EMAIL)' TOLLGATE_ADMIN_PASSWORD='$(ADMIN_PASSWORD)' \
	  TOLLGATE_ALLOW_PRIVATE_ENDPOINTS='$(ALLOW_PRIVATE)' $(VENV)/bin/tollgate up

test:
	scripts/test.sh

# The unit lane: no Kafka, ClickHouse, PostgreSQL or child processes (tests/support/lanes.py).
test-unit: venv
	$(VENV)/bin/python -m pip install -q -e ".[test]"
	TOLLGATE_TEST_LANE=unit $(VENV)/bin/python -m pytest -q -p no:cacheprovider
