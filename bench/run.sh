#!/usr/bin/env bash
# Benchmarks auth-service on this machine and prints one table. Every row is measured in the
# same run as its baseline, so the ratios hold on a noisy machine.
#
#   bench/run.sh            full run (about 10 s per measurement)
#   bench/run.sh --smoke    CI smoke mode (2 s per measurement; checks the harness works)
#
# Needs PostgreSQL and Redis (TEST_DATABASE_URL / TEST_REDIS_URL, as scripts/test.sh provides);
# installs wrk with apt when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10
smoke=false
[[ "${1:-}" == "--smoke" ]] && smoke=true duration=2
database_admin="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis_url="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
cores=$(nproc)
say() { printf 'bench: %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
  say "installing wrk"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
command -v pgbench >/dev/null || pgbench() { "$(ls /usr/lib/postgresql/*/bin/pgbench | head -1)" "$@"; }

# Smoke mode only checks that the harness works, so it takes the debug binary the tests built
# (a release build would add minutes to CI); the figures of a real run come from --release.
if $smoke; then
  cargo build --quiet --bin auth-service
  binary=target/debug/auth-service
else
  cargo build --release --quiet --bin auth-service
  binary=target/release/auth-service
fi
work=$(mktemp -d)
pids=()
database="bench_$(date +%s)_$$"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  psql -q -d "$database_admin" -c "drop database if exists $database" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q -d "$database_admin" -c "create database $database" >/dev/null
database_url="${database_admin%/*}/$database"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_service NAME [VAR=value ...]: starts an instance on PostgreSQL + Redis; sets $port and $pid.
start_service() {
  local name=$1; shift
  port=$(free_port)
  env DATABASE_URL="$database_url" REDIS_URL="$redis_url" REDIS_KEY_PREFIX="bench-$name:" SERVICE_PORT="$port" \
    JWT_SECRET="benchmark-secret-that-is-long-enough-0123456789" RATE_LIMIT_PER_MINUTE=0 LOGIN_FAILURE_LIMIT=0 \
    LOG_FORMAT=json RUST_LOG=warn "$@" "$binary" serve >"$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null && return; sleep 0.05; done
  say "$name did not become ready"; cat "$work/$name.log" >&2; exit 1
}

# wrk_run URL [wrk args...]: prints "requests/s p50_ms p99_ms"
wrk_run() {
  local url=$1; shift
  wrk -t1 -c32 -d"${duration}s" --latency "$@" "$url" 2>/dev/null | python3 bench/wrk_summary.py
}

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
ratio() { python3 -c "a, b = float('$1'), float('$2'); print(f'{a / b:.2f}' if b else 'n/a')"; }
rows=()
row() { rows+=("$(printf '| %s | %s | %s | %s | %s |' "$@")"); }

login_token() {
  curl -fs "http://127.0.0.1:$1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"benchmark password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
seed_user() {
  curl -fs "http://127.0.0.1:$1/auth/register" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"benchmark password"}' >/dev/null || true
}

# 1. Validation, HS256 and RS256, against /health/live of the same binary.
start_service hs256
hs_port=$port hs_pid=$pid
seed_user "$hs_port"
idle_rss=$(rss_mb "$hs_pid")
token=$(login_token "$hs_port")
read -r live_rps live_p50 live_p99 <<<"$(wrk_run "http://127.0.0.1:$hs_port/health/live")"
read -r hs_rps hs_p50 hs_p99 <<<"$(wrk_run "http://127.0.0.1:$hs_port/auth/validate" -H "Authorization: Bearer $token")"
loaded_rss=$(rss_mb "$hs_pid")
row "validate HS256, 32 connections" "$hs_rps req/s, p50 $hs_p50 ms, p99 $hs_p99 ms" "/health/live $live_rps req/s" "$(ratio "$hs_rps" "$live_rps")" "≥ 0.8, p99 < 2 ms"

"$binary" keys generate --algorithm RS256 --out-dir "$work/rs256" >/dev/null
start_service rs256 JWT_ALGORITHM=RS256 JWT_PRIVATE_KEY_PATH="$work/rs256/private.pem" JWT_PUBLIC_KEY_PATH="$work/rs256/public.pem"
rs_port=$port
rs_token=$(login_token "$rs_port")
read -r rs_live_rps _ _ <<<"$(wrk_run "http://127.0.0.1:$rs_port/health/live")"
read -r rs_rps rs_p50 rs_p99 <<<"$(wrk_run "http://127.0.0.1:$rs_port/auth/validate" -H "Authorization: Bearer $rs_token")"
row "validate RS256, 32 connections" "$rs_rps req/s, p50 $rs_p50 ms, p99 $rs_p99 ms" "/health/live $rs_live_rps req/s" "$(ratio "$rs_rps" "$rs_live_rps")" "≥ 0.8, p99 < 2 ms"

# 1b. Many distinct tokens, each from its own session, against /health/live of the same process.
# The instances sign in with a cheap bcrypt cost only to mint the sessions quickly.
if $smoke; then few=100 many=500; else few=10000 many=100000; fi
for algorithm in HS256 RS256; do
  if [[ $algorithm == RS256 ]]; then
    start_service "many-rs256" BCRYPT_COST=4 JWT_ALGORITHM=RS256 JWT_PRIVATE_KEY_PATH="$work/rs256/private.pem" JWT_PUBLIC_KEY_PATH="$work/rs256/public.pem"
  else
    start_service "many-hs256" BCRYPT_COST=4
  fi
  many_port=$port many_pid=$pid
  say "minting $many $algorithm tokens"
  python3 bench/mint_tokens.py "$many_port" "$many" "mint-$algorithm@example.com" >"$work/tokens-$algorithm"
  head -n "$few" "$work/tokens-$algorithm" >"$work/tokens-$algorithm-few"
  read -r many_live_rps _ _ <<<"$(wrk_run "http://127.0.0.1:$many_port/health/live")"
  for set in few all; do
    file="$work/tokens-$algorithm"; count=$many
    [[ $set == few ]] && file="$work/tokens-$algorithm-few" count=$few
    read -r many_rps _ many_p99 <<<"$(TOKENS="$file" wrk_run "http://127.0.0.1:$many_port/auth/validate" -s bench/many_tokens.lua)"
    row "validate $algorithm, $count distinct tokens" "$many_rps req/s, p99 $many_p99 ms, RSS $(rss_mb "$many_pid") MB" "/health/live $many_live_rps req/s" "$(ratio "$many_rps" "$many_live_rps")" "≥ 0.8, RSS < 100 MB"
  done
  kill "$many_pid" 2>/dev/null || true
done

# 2. Logins against the bcrypt bound: cores ÷ the time of one hash, measured now.
hash_seconds=$(env DATABASE_URL="$database_url" JWT_SECRET="benchmark-secret-that-is-long-enough-0123456789" LOG_FORMAT=json RUST_LOG=error "$binary" hash-benchmark --iterations 4)
bound=$(python3 -c "print(f'{$cores / $hash_seconds:.1f}')")
read -r login_rps _ login_p99 <<<"$(wrk_run "http://127.0.0.1:$hs_port/auth/login" -s bench/login.lua)"
row "login (bcrypt cost 12)" "$login_rps req/s, p99 $login_p99 ms" "bound $bound req/s ($cores cores ÷ $hash_seconds s)" "$(ratio "$login_rps" "$bound")" "≥ 0.9"

# 3. Validation while a login flood runs, against validation alone (measured above).
wrk -t1 -c64 -d"$((duration + 2))s" -s bench/login.lua "http://127.0.0.1:$hs_port/auth/login" >/dev/null 2>&1 &
flood=$!
sleep 1
read -r flooded_rps _ flooded_p99 <<<"$(wrk_run "http://127.0.0.1:$hs_port/auth/validate" -H "Authorization: Bearer $token")"
wait "$flood" || true
row "validate HS256 during a login flood" "$flooded_rps req/s, p99 $flooded_p99 ms" "validate alone $hs_rps req/s" "$(ratio "$flooded_rps" "$hs_rps")" "≥ 0.5"

# 3b. Overload: five times more concurrent logins than hashing can finish within REQUEST_TIMEOUT
# (10 s by default), each an unknown email (a full bcrypt verification); clients wait out
# Retry-After. Judged logins against the bcrypt bound, how fast the excess is told 503, and
# validation meanwhile against validation alone.
request_timeout=10
clients=$(python3 -c "print(max(8, int(5 * $bound * $request_timeout)))")
# Alone first (judged logins and the excess), then again with validation running (the hashing
# threads yield the CPU to it, so that phase's logins are not the judged figure).
python3 bench/overload.py "$hs_port" "$clients" "$duration" "$request_timeout" >"$work/overload"
read -r judged_rps shed shed_p99 judged_p99 late <"$work/overload"
python3 bench/overload.py "$hs_port" "$clients" "$((duration + 2))" "$request_timeout" >/dev/null &
overload=$!
sleep 1
read -r overloaded_rps _ overloaded_p99 <<<"$(wrk_run "http://127.0.0.1:$hs_port/auth/validate" -H "Authorization: Bearer $token")"
overload_rss=$(rss_mb "$hs_pid")
wait "$overload"
row "overload: $clients concurrent logins (5× what fits in ${request_timeout} s)" "$judged_rps judged/s, p99 $judged_p99 ms" "bound $bound req/s" "$(ratio "$judged_rps" "$bound")" "≥ 0.9"
row "overload: the excess" "$shed answered 503, p99 $shed_p99 ms, $late only at the timeout" "" "" "p99 < 50 ms, none late"
row "validate HS256 during the overload" "$overloaded_rps req/s, p99 $overloaded_p99 ms, RSS $overload_rss MB" "validate alone $hs_rps req/s" "$(ratio "$overloaded_rps" "$hs_rps")" "≥ 0.5"

# 4. Refresh against pgbench TPC-B-like on the same PostgreSQL.
start_service refresh BCRYPT_COST=4
refresh_port=$port
seed_user "$refresh_port"
for _ in $(seq 32); do
  curl -fs "http://127.0.0.1:$refresh_port/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"benchmark password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])'
done >"$work/refresh-tokens"
read -r refresh_rps _ refresh_p99 <<<"$(REFRESH_TOKENS="$work/refresh-tokens" wrk_run "http://127.0.0.1:$refresh_port/auth/refresh" -s bench/refresh.lua)"
pgbench -q -i -s 1 "$database_url" >/dev/null 2>&1
tps=$(pgbench -c 32 -j "$cores" -T "$duration" "$database_url" 2>/dev/null | awk '/^tps/ {print int($3); exit}')
row "refresh (rotation, PostgreSQL)" "$refresh_rps req/s, p99 $refresh_p99 ms" "pgbench TPC-B $tps tps" "$(ratio "$refresh_rps" "$tps")" "≥ 0.5"

# 5. Registration, memory, start-up.
read -r register_rps _ register_p99 <<<"$(wrk_run "http://127.0.0.1:$hs_port/auth/register" -s bench/register.lua)"
row "register (bcrypt cost 12)" "$register_rps req/s, p99 $register_p99 ms" "bound $bound req/s" "$(ratio "$register_rps" "$bound")" "(bounded by hashing)"
row "resident memory" "idle $idle_rss MB, after load $loaded_rss MB" "" "" "< 30 MB idle, < 100 MB loaded"
started_ms=$(python3 - "$binary" "$work" <<'PY'
import os, socket, subprocess, sys, time, urllib.request
binary, work = sys.argv[1], sys.argv[2]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
env = dict(os.environ, DATABASE_URL=f"sqlite://{work}/startup.db", SERVICE_PORT=str(port), LOG_FORMAT="json", RUST_LOG="error",
           JWT_SECRET="benchmark-secret-that-is-long-enough-0123456789")
started = time.monotonic()
process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1)
            break
        except Exception:
            time.sleep(0.002)
    print(f"{(time.monotonic() - started) * 1000:.0f}")
finally:
    process.kill()
PY
)
row "start to ready (SQLite, fresh database)" "$started_ms ms" "" "" "< 200 ms"

printf '\nauth-service benchmark: %s cores, %s s per measurement, %s\n\n' "$cores" "$duration" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '| row | measured | baseline (same run) | ratio | target |\n|---|---|---|---|---|\n'
printf '%s\n' "${rows[@]}"
