#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests (no Docker, no system service).
#
#   scripts/postgres.sh start [--dir D]   init + start on a free 127.0.0.1 port; prints
#                                          TOLLGATE_TEST_POSTGRES_URL=... and writes it to D/url
#   scripts/postgres.sh stop  [--dir D]   stop the server and delete the cluster
#   scripts/postgres.sh status [--dir D]
#
# Installs Debian's `postgresql` with apt-get when no server binaries are found (needs root).
# The cluster runs as the `postgres` OS user when we are root (initdb refuses root).
set -euo pipefail

cmd="${1:-}"; shift || true
DIR="${TOLLGATE_PG_DIR:-${TMPDIR:-/tmp}/tollgate-pg}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

ensure_installed() {
  if ! find_bindir >/dev/null; then
    echo "postgres.sh: installing postgresql with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  fi
  find_bindir
}

as_pg() {
  # Run a command as the cluster's owner.
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

start() {
  local bindir port dbname url
  bindir="$(ensure_installed)"
  if [ -f "$DIR/url" ] && [ -f "$DIR/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    url="$(cat "$DIR/url")"
    echo "TOLLGATE_TEST_POSTGRES_URL=$url"
    return 0
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"
  if [ "$(id -u)" = "0" ]; then chown postgres: "$DIR"; fi
  as_pg "$bindir/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --no-locale >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
  port="$(free_port)"
  as_pg "$bindir/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
  dbname="tollgate"
  as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$dbname"
  url="postgresql://postgres@127.0.0.1:$port/$dbname"
  echo "$url" >"$DIR/url"
  chmod 0644 "$DIR/url"
  echo "TOLLGATE_TEST_POSTGRES_URL=$url"
}

stop() {
  local bindir
  bindir="$(find_bindir)" || { rm -rf "$DIR"; return 0; }
  if [ -d "$DIR/data" ]; then
    as_pg "$bindir/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}

status() {
  local bindir
  bindir="$(find_bindir)"
  if [ -d "$DIR/data" ] && as_pg "$bindir/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    echo "running: $(cat "$DIR/url")"
  else
    echo "stopped"; return 1
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status [--dir D]" >&2; exit 2 ;;
esac
