#!/usr/bin/env bash
# Run a real single-node Apache Kafka broker (KRaft, broker+controller) on 127.0.0.1.
#
#   scripts/kafka.sh start  [--dir D] [--partitions N] [--watch-pid PID] [--no-topics]
#   scripts/kafka.sh stop   [--dir D] [--keep-data] [--hard]
#   scripts/kafka.sh status [--dir D]
#
# start: resolves the broker's jars with Maven (cached in .kafka/lib), formats KRaft storage,
#   starts the broker on free random ports (or, if D holds data kept by `stop --keep-data`,
#   on the same ports with the same data), waits until it serves, creates the contract topics,
#   prints KAFKA_BOOTSTRAP=127.0.0.1:PORT and writes it to D/bootstrap. Idempotent.
#   --watch-pid PID: the broker is killed when PID exits (no orphans when a test run dies).
# stop: SIGTERM (or SIGKILL with --hard), then removes the data directory unless --keep-data.
# Needs only Java 17 and Maven. Env: KAFKA_VERSION (default 3.9.1), KAFKA_HEAP (-Xmx512m),
# KAFKA_START_TIMEOUT seconds (90).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
ASSETS="$SCRIPT_DIR/kafka"
CACHE="${KAFKA_CACHE_DIR:-$REPO_ROOT/.kafka}"
LIB="$CACHE/lib"
CLASSES="$CACHE/classes"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_HEAP="${KAFKA_HEAP:--Xmx512m -Xms64m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"

die() { echo "kafka.sh: $*" >&2; exit 1; }
log() { echo "kafka.sh: $*" >&2; }

cmd="${1:-}"; shift || true
DIR="$CACHE/run"; PARTITIONS=3; WATCH_PID=""; TOPICS=1; KEEP=0; HARD=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --partitions) PARTITIONS="$2"; shift 2 ;;
    --watch-pid) WATCH_PID="$2"; shift 2 ;;
    --no-topics) TOPICS=0; shift ;;
    --keep-data) KEEP=1; shift ;;
    --hard) HARD=1; shift ;;
    *) die "unknown argument: $1" ;;
  esac
done
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

alive() {  # alive <pid>: running, and (where /proc exists) really this dir's broker
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
  [[ -r "/proc/$1/cmdline" ]] || return 0
  tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "$DIR/server.properties"
}
broker_pid() { [[ -f "$DIR/pid" ]] && cat "$DIR/pid" || true; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  # Below the kernel's ephemeral range: a client that keeps reconnecting to a stopped broker's
  # port inside that range can be handed the very same port as its own source port (a TCP
  # self-connect on loopback), and the broker then cannot bind it again on restart.
  local p low=32768 span
  if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
    read -r low _ < /proc/sys/net/ipv4/ip_local_port_range
  fi
  (( low > 12000 )) || low=32768
  span=$(( low - 10000 ))
  for _ in $(seq 1 200); do
    p=$(( 10000 + (RANDOM * 32768 + RANDOM) % span ))
    if ! port_in_use "$p"; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

with_lock() {  # with_lock <lockfile> <command...>: serialize jar resolution across processes
  local lockfile="$1"; shift
  if command -v flock >/dev/null 2>&1; then
    ( flock -w 600 9 || die "lock timeout"; "$@" ) 9>"$lockfile"
  else
    until mkdir "$lockfile.d" 2>/dev/null; do sleep 1; done
    trap 'rmdir "$lockfile.d" 2>/dev/null || true' EXIT
    "$@"; rmdir "$lockfile.d"; trap - EXIT
  fi
}

resolve_jars_locked() {
  if [[ -f "$LIB/.version" && "$(cat "$LIB/.version")" == "$KAFKA_VERSION" ]]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is required to fetch Kafka $KAFKA_VERSION"
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION with Maven (first run downloads ~50 MB)"
  local tmp="$CACHE/lib.tmp.$$"
  rm -rf "$tmp"
  mvn -q -B -f "$ASSETS/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >&2 \
    || { rm -rf "$tmp"; die "maven resolve failed"; }
  ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "kafka jar missing after resolve"; }
  echo "$KAFKA_VERSION" > "$tmp/.version"
  rm -rf "$LIB" "$CLASSES"
  mv "$tmp" "$LIB"
}

compile_tools_locked() {
  [[ -f "$CLASSES/CreateTopics.class" && "$CLASSES/CreateTopics.class" -nt "$ASSETS/CreateTopics.java" ]] && return 0
  command -v javac >/dev/null || return 0
  mkdir -p "$CLASSES"
  javac -nowarn -cp "$LIB/*" -d "$CLASSES" "$ASSETS/CreateTopics.java" >&2 || log "javac failed; topics will be auto-created"
}

ensure_jars() {
  mkdir -p "$CACHE"
  with_lock "$CACHE/lib.lock" resolve_jars_locked
  with_lock "$CACHE/lib.lock" compile_tools_locked
}

write_config() {  # write_config <port> <controller-port>
  sed -e "s#@PORT@#$1#g" -e "s#@CONTROLLER_PORT@#$2#g" -e "s#@LOG_DIR@#$DIR/data#g" \
      "$ASSETS/server.properties.in" > "$DIR/server.properties"
  echo "$1" > "$DIR/port"; echo "$2" > "$DIR/controller.port"
}

format_storage() {
  local cid
  if [[ -f "$DIR/cluster.id" ]]; then cid="$(cat "$DIR/cluster.id")"; else
    cid="$(java -cp "$LIB/*" -Dlog4j.configuration="file:$ASSETS/log4j.properties" \
           -Dkafka.logs.dir="$DIR/logs" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
    echo "$cid" > "$DIR/cluster.id"
  fi
  java -cp "$LIB/*" -Dlog4j.configuration="file:$ASSETS/log4j.properties" -Dkafka.logs.dir="$DIR/logs" \
    kafka.tools.StorageTool format -t "$cid" -c "$DIR/server.properties" --ignore-formatted >"$DIR/format.out" 2>&1 \
    || { cat "$DIR/format.out" >&2; die "storage format failed"; }
}

launch() {
  mkdir -p "$DIR/logs"
  : > "$DIR/logs/server.log"
  # setsid: own process group, so a Ctrl-C in the caller's terminal does not hit the broker.
  setsid java $KAFKA_HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$ASSETS/log4j.properties" -Dkafka.logs.dir="$DIR/logs" \
    -cp "$LIB/*" kafka.Kafka "$DIR/server.properties" >"$DIR/broker.out" 2>&1 </dev/null &
  echo $! > "$DIR/pid"
}

wait_ready() {  # returns 0 when serving, 1 if the process died, 2 on timeout
  local pid port deadline
  pid="$(broker_pid)"; port="$(cat "$DIR/port")"
  deadline=$(( SECONDS + START_TIMEOUT ))
  while (( SECONDS < deadline )); do
    alive "$pid" || return 1
    if grep -q "Kafka Server started" "$DIR/logs/server.log" 2>/dev/null && port_in_use "$port"; then
      return 0
    fi
    sleep 0.3
  done
  return 2
}

start_watchdog() {
  [[ -z "$WATCH_PID" ]] && return 0
  local bpid; bpid="$(broker_pid)"
  ( trap '' HUP
    while kill -0 "$WATCH_PID" 2>/dev/null && kill -0 "$bpid" 2>/dev/null; do sleep 1; done
    if kill -0 "$bpid" 2>/dev/null; then
      kill -9 "$bpid" 2>/dev/null || true
      [[ -f "$DIR/keep" ]] || rm -rf "$DIR/data" "$DIR/bootstrap"
    fi ) >/dev/null 2>&1 </dev/null &
  echo $! > "$DIR/watchdog.pid"
  disown || true
}

create_topics() {
  (( TOPICS )) || return 0
  [[ -f "$CLASSES/CreateTopics.class" ]] || { log "no javac: contract topics will be auto-created"; return 0; }
  java -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j.configuration="file:$ASSETS/log4j.properties" \
    -Dkafka.logs.dir="$DIR/logs" -cp "$LIB/*:$CLASSES" CreateTopics "$1" "$PARTITIONS" >&2 \
    || log "creating contract topics failed (auto-create stays on)"
}

do_start() {
  local pid; pid="$(broker_pid)"
  if alive "$pid" && [[ -f "$DIR/bootstrap" ]]; then
    echo "KAFKA_BOOTSTRAP=$(cat "$DIR/bootstrap")"; return 0
  fi
  command -v java >/dev/null || die "java (17+) is required"
  ensure_jars
  rm -f "$DIR/bootstrap" "$DIR/keep"
  local reuse=0
  if [[ -d "$DIR/data" && -f "$DIR/port" && -f "$DIR/controller.port" ]]; then
    reuse=1; write_config "$(cat "$DIR/port")" "$(cat "$DIR/controller.port")"
  fi
  local attempt rc
  for attempt in 1 2 3; do
    if (( ! reuse )); then
      rm -rf "$DIR/data" "$DIR/cluster.id"
      write_config "$(free_port)" "$(free_port)"
    fi
    format_storage
    launch
    rc=0; wait_ready || rc=$?
    if (( rc == 0 )); then break; fi
    kill -9 "$(broker_pid)" 2>/dev/null || true
    log "broker did not start (attempt $attempt, rc=$rc); last output:"
    tail -n 20 "$DIR/broker.out" >&2 || true
    grep -E "ERROR|FATAL" "$DIR/logs/server.log" 2>/dev/null | tail -n 5 >&2 || true
    if (( reuse )); then
      (( attempt < 3 )) || die "broker failed to restart on its old ports"
      sleep 2   # the old ports may still be held for a moment (TIME_WAIT, a client's retry)
    fi
  done
  (( rc == 0 )) || die "broker failed to start"
  local bootstrap="127.0.0.1:$(cat "$DIR/port")"
  start_watchdog
  create_topics "$bootstrap"
  echo "$bootstrap" > "$DIR/bootstrap"
  echo "KAFKA_BOOTSTRAP=$bootstrap"
}

do_stop() {
  local pid; pid="$(broker_pid)"
  (( KEEP )) && touch "$DIR/keep"
  if [[ -f "$DIR/watchdog.pid" ]]; then kill "$(cat "$DIR/watchdog.pid")" 2>/dev/null || true; rm -f "$DIR/watchdog.pid"; fi
  if alive "$pid"; then
    if (( HARD )); then kill -9 "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
    for _ in $(seq 1 150); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; sleep 0.2; fi
  fi
  rm -f "$DIR/pid" "$DIR/bootstrap"
  if (( ! KEEP )); then rm -rf "$DIR/data" "$DIR/logs" "$DIR/cluster.id" "$DIR/server.properties" "$DIR/port" "$DIR/controller.port" "$DIR/keep"; fi
  echo "stopped"
}

do_status() {
  local pid; pid="$(broker_pid)"
  if alive "$pid" && [[ -f "$DIR/bootstrap" ]]; then
    echo "running pid=$pid KAFKA_BOOTSTRAP=$(cat "$DIR/bootstrap")"; return 0
  fi
  echo "stopped"; return 1
}

case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *) die "usage: kafka.sh start|stop|status [--dir D] [--partitions N] [--watch-pid PID] [--keep-data] [--hard]" ;;
esac
