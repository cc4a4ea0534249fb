#!/usr/bin/env bash
# Runs the benchmarks of BENCHMARKS.md: each run against a fresh server with
# a fresh data directory on loopback. Usage: bash bench/run.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
go build -o /tmp/parley-bench .
ulimit -n 20000
key=bench-key
port=18099

one() { # one NAME SERVER_FLAGS -- BENCH_FLAGS
  local name=$1; shift
  local sflags=() bflags=()
  while [ "$1" != "--" ]; do sflags+=("$1"); shift; done; shift
  bflags=("$@")
  for i in $(seq "$runs"); do
    data=$(mktemp -d)
    PARLEY_API_KEY=$key /tmp/parley-bench serve --data "$data" --listen 127.0.0.1:$port --ip-rate 0 --log-level warn "${sflags[@]}" >/dev/null 2>&1 &
    pid=$!
    until curl -sf http://127.0.0.1:$port/healthz >/dev/null; do sleep 0.1; done
    echo "### $name, run $i"
    PARLEY_API_KEY=$key /tmp/parley-bench bench --url http://127.0.0.1:$port --server-pid $pid "${bflags[@]}" 2>/dev/null
    kill $pid; wait $pid 2>/dev/null || true
    rm -rf "$data"
  done
}

one "rooms of 10, 1000 msg/s" --messages-per-minute 1000000 -- --rooms 100 --room-size 10 --rate 1000 --duration 20s --warmup 3s
one "rooms of 10, 3000 msg/s" --messages-per-minute 1000000 -- --rooms 100 --room-size 10 --rate 3000 --duration 20s --warmup 3s
one "rooms of 100, 300 msg/s" --messages-per-minute 1000000 -- --rooms 10 --room-size 100 --rate 300 --duration 20s --warmup 3s
one "5000 idle connections" -- --rooms 500 --room-size 10 --idle --duration 10s
