#!/usr/bin/env bash
# A CPU flame graph of the service under one load, for BENCHMARKS.md:
#
#   bench/profile.sh [PATH] [SECONDS]   PATH defaults to /auth/me, SECONDS to 10
#
# Builds the release binary with symbols (cargo's `profiling` profile), starts it on PostgreSQL
# + Redis like bench/run.sh, drives PATH with wrk (32 connections, a signed-in user's bearer
# token), records the service with perf (DWARF unwinding) and writes
# docs/bench/flamegraph-<path>.svg with inferno, then prints the functions that spent the most
# CPU themselves, and the share of each part of the service (bench/stack_shares.py). Installs wrk and perf with apt, and inferno with cargo, when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
path=${1:-/auth/me}
seconds=${2:-10}
database_admin="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis_url="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
say() { printf 'profile: %s\n' "$*" >&2; }

command -v wrk >/dev/null || { say "installing wrk"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v perf >/dev/null || { say "installing perf"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; }
command -v inferno-flamegraph >/dev/null || { say "installing inferno"; cargo install --quiet --locked inferno; }
cargo build --quiet --profile profiling --bin auth-service
binary=target/profiling/auth-service

work=$(mktemp -d)
database="profile_$(date +%s)_$$"
pid=
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
  psql -q -d "$database_admin" -c "drop database if exists $database" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q -d "$database_admin" -c "create database $database" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env DATABASE_URL="${database_admin%/*}/$database" REDIS_URL="$redis_url" REDIS_KEY_PREFIX="profile:" SERVICE_PORT="$port" \
  JWT_SECRET="benchmark-secret-that-is-long-enough-0123456789" RATE_LIMIT_PER_MINUTE=0 LOGIN_FAILURE_LIMIT=0 \
  DATABASE_MAX_CONNECTIONS=32 BCRYPT_COST=4 LOG_FORMAT=json RUST_LOG=warn "$binary" serve >"$work/service.log" 2>&1 &
pid=$!
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.05; done
token=$(python3 bench/mint_tokens.py "$port" 1 profile@example.com)

wrk -t1 -c32 -d"$((seconds + 2))s" -H "Authorization: Bearer $token" "http://127.0.0.1:$port$path" >"$work/wrk" 2>&1 &
load=$!
sleep 1
perf record -q -F 499 --call-graph dwarf,16384 -p "$pid" -o "$work/perf.data" -- sleep "$seconds" 2>/dev/null
wait "$load"
grep -E 'Requests/sec' "$work/wrk" >&2

mkdir -p docs/bench
name=$(printf '%s' "${path#/}" | tr -c 'a-zA-Z0-9' '-')
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"$work/folded"
inferno-flamegraph --minwidth 0.5 --title "auth-service: GET $path, 32 connections" <"$work/folded" >"docs/bench/flamegraph-$name.svg"
say "wrote docs/bench/flamegraph-$name.svg"
printf '\n| part of the service | share of its CPU samples |\n|---|---|\n'
python3 bench/stack_shares.py <"$work/folded"
printf '\nFunctions by their own samples:\n'
perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/ +- +- *$//' | awk 'NR <= 25'
