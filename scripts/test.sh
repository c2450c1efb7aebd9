#!/usr/bin/env bash
# The whole test suite with real services: venv + deps, PostgreSQL, Kafka, pytest.
#
#   scripts/test.sh [paths] [pytest args...]   (make test: the whole suite)
#
# Exits non-zero when any test failed or when no test ran. Services are stopped on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$REPO/.venv}"

log() { echo "test.sh: $*" >&2; }

# 1. venv + dependencies (editable install with the test extra)
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
log "installing tollgate[test] into $VENV"
"$VENV/bin/python" -m pip install -q -e ".[test]"
"$VENV/bin/python" -m pip install -q -e clients/python  # the Python client (its tests use it)

# npm dev dependencies of the TypeScript client (its tests and the Flashback-client test use them)
if command -v npm >/dev/null 2>&1 && { [ ! -x clients/typescript/node_modules/.bin/tsc ] ||
    [ clients/typescript/package-lock.json -nt clients/typescript/node_modules/.package-lock.json ]; }; then
  log "installing clients/typescript npm dev dependencies"
  (cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error)
fi

# Debian's chromium for the dashboard tests (tests/ui drive it with Playwright; its own browser
# download cannot work here)
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  log "installing chromium (tests/ui)"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

# 2. services, in a private run dir, stopped on any exit
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-test.XXXXXX")"
chmod 0755 "$RUN_DIR"  # the PostgreSQL cluster runs as the postgres user
cleanup() {
  local rc=$?
  if [ -x scripts/kafka.sh ] && [ -d "$RUN_DIR/kafka" ]; then
    scripts/kafka.sh stop --dir "$RUN_DIR/kafka" >/dev/null 2>&1 || true
  fi
  scripts/postgres.sh stop --dir "$RUN_DIR/pg" >/dev/null 2>&1 || true
  rm -rf "$RUN_DIR"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${TOLLGATE_TEST_SERVICES:-auto}" != local ] && "$VENV/bin/python" -m tests.support.containers probe; then
  # a Docker engine answers: the suite starts PostgreSQL, Kafka and a ClickHouse server itself
  export TOLLGATE_TEST_SERVICES=containers
  log "test services: containers (testcontainers; a Docker engine is reachable)"
else
export TOLLGATE_TEST_SERVICES=local
log "test services: local scripts (no Docker engine reachable)"
log "starting PostgreSQL"
pg_line="$(scripts/postgres.sh start --dir "$RUN_DIR/pg" | grep '^TOLLGATE_TEST_POSTGRES_URL=' | tail -1)"
export TOLLGATE_TEST_POSTGRES_URL="${pg_line#TOLLGATE_TEST_POSTGRES_URL=}"
[ -n "$TOLLGATE_TEST_POSTGRES_URL" ] || { log "PostgreSQL did not start"; exit 1; }
log "PostgreSQL at $TOLLGATE_TEST_POSTGRES_URL"

if [ -x scripts/kafka.sh ]; then
  log "starting Kafka (first run downloads the broker with Maven)"
  kafka_line="$(scripts/kafka.sh start --dir "$RUN_DIR/kafka" --watch-pid $$ | grep '^KAFKA_BOOTSTRAP=' | tail -1)"
  export TOLLGATE_TEST_KAFKA_BOOTSTRAP="${kafka_line#KAFKA_BOOTSTRAP=}"
  [ -n "$TOLLGATE_TEST_KAFKA_BOOTSTRAP" ] || { log "Kafka did not start"; exit 1; }
  log "Kafka at $TOLLGATE_TEST_KAFKA_BOOTSTRAP"
else
  log "scripts/kafka.sh not present: Kafka tests start their own broker or fail"
fi
fi

# 3. the suite
set +e
# paths given (scripts/test.sh tests/gateway -x): only those; otherwise the whole suite
targets=(tests)
for arg in "$@"; do
  case "$arg" in -*) ;; *) [ -e "${arg%%::*}" ] && targets=() ;; esac
done
"$VENV/bin/python" -m pytest "${targets[@]}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  log "no tests ran: failing"
  exit 1
fi
exit "$rc"
