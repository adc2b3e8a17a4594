#!/usr/bin/env bash
# Benchmarks auth-service on this machine and prints one table. Every row is measured in the
# same run as its baseline, so the ratios hold on a noisy machine.
#
#   bench/run.sh            full run (about 10 s per measurement)
#   bench/run.sh --smoke    CI smoke mode (2 s per measurement; checks the harness works)
#   bench/run.sh --only scale   only the million-user rows and query plans (6), with or without --smoke
#   bench/run.sh --only me      only GET /auth/me against pgbench -S (2b)
#   bench/run.sh --peers        adds the side-by-side rows against better-auth (7, bench/peers.sh)
#   bench/run.sh --only peers   only those
#
# Needs PostgreSQL and Redis (TEST_DATABASE_URL / TEST_REDIS_URL, as scripts/test.sh provides);
# installs wrk with apt when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10
smoke=false
only=all
peers=false
while [[ $# -gt 0 ]]; do
  case $1 in
    --smoke) smoke=true duration=2 ;;
    --only) only=$2; shift ;;
    --peers) peers=true ;;
    *) echo "usage: bench/run.sh [--smoke] [--peers] [--only core|me|scale|peers]" >&2; exit 2 ;;
  esac
  shift
done
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
  psql -q -d "$database_admin" -c "drop database if exists ${database}_scale" >/dev/null 2>&1 || true
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
  env DATABASE_URL="${DATABASE_URL_OVERRIDE:-$database_url}" REDIS_URL="$redis_url" REDIS_KEY_PREFIX="bench-$name:" SERVICE_PORT="$port" \
    JWT_SECRET="benchmark-secret-that-is-long-enough-0123456789" RATE_LIMIT_PER_MINUTE=0 LOGIN_FAILURE_LIMIT=0 \
    LOG_FORMAT=json RUST_LOG=warn "$@" "$binary" serve >"$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null && return; sleep 0.05; done
  say "$name did not become ready"; cat "$work/$name.log" >&2; exit 1
}

# wrk_run URL [wrk args...]: prints "requests/s p50_ms p99_ms" (2xx answers only; the timeout is
# long enough that a login's wait for hashing shows in p99 instead of being cut off at 2 s)
wrk_run() {
  local url=$1; shift
  wrk -t1 -c32 -d"${duration}s" --timeout 30s --latency "$@" "$url" 2>/dev/null | python3 bench/wrk_summary.py
}

# section NAME: whether this run measures section NAME.
section() { [[ $only == "$1" || ( $only == all && ( $1 != peers || $peers == true ) ) ]]; }
pgbench_ready=false
pgbench_tables() { $pgbench_ready || pgbench -q -i -s 1 "$database_url" >/dev/null 2>&1; pgbench_ready=true; }
# pgbench_tps ARGS...: pgbench's tps over the run's duration with 32 clients.
pgbench_tps() { pgbench -c 32 -j "$cores" -T "$duration" "$@" "$database_url" 2>/dev/null | awk '/^tps/ {print int($3); exit}'; }

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

if section core; then
# 1. Validation, HS256 and RS256, against /health/live of the same binary.
start_service hs256
hs_port=$port hs_pid=$pid
seed_user "$hs_port"
idle_rss=$(rss_mb "$hs_pid")
token=$(login_token "$hs_port")
read -r live_rps _ _ <<<"$(wrk_run "http://127.0.0.1:$hs_port/health/live")"
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
  for set in few all; do
    file="$work/tokens-$algorithm"; count=$many
    [[ $set == few ]] && file="$work/tokens-$algorithm-few" count=$few
    # The baseline goes through the same Lua script with the same tokens loaded, so both sides
    # pay wrk's per-request Lua and its memory.
    read -r many_live_rps _ _ <<<"$(TOKENS="$file" wrk_run "http://127.0.0.1:$many_port/health/live" -s bench/many_tokens.lua)"
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
curl -fs "http://127.0.0.1:$hs_port/metrics" >"$work/metrics-before-overload"
python3 bench/overload.py "$hs_port" "$clients" "$duration" "$request_timeout" >"$work/overload"
curl -fs "http://127.0.0.1:$hs_port/metrics" >"$work/metrics-after-overload"
read -r _ shed_within shed_server_p99 <<<"$(python3 bench/shed_latency.py "$work/metrics-before-overload" "$work/metrics-after-overload")"
read -r judged_rps shed shed_p99 judged_p99 late <"$work/overload"
python3 bench/overload.py "$hs_port" "$clients" "$((duration + 2))" "$request_timeout" >/dev/null &
overload=$!
sleep 1
read -r overloaded_rps _ overloaded_p99 <<<"$(wrk_run "http://127.0.0.1:$hs_port/auth/validate" -H "Authorization: Bearer $token")"
overload_rss=$(rss_mb "$hs_pid")
wait "$overload"
row "overload: $clients concurrent logins (5× what fits in ${request_timeout} s)" "$judged_rps judged/s, p99 $judged_p99 ms" "bound $bound req/s" "$(ratio "$judged_rps" "$bound")" "≥ 0.9"
row "overload: the excess" "$shed answered 503, p99 $shed_p99 ms at the client, $late only at the timeout" "" "" "p99 < 50 ms, none late"
row "overload: the excess, as the service measured it" "p99 ≤ $shed_server_p99 ms (histogram bucket), $shed_within of them within 50 ms" "" "" "p99 < 50 ms"
row "validate HS256 during the overload" "$overloaded_rps req/s, p99 $overloaded_p99 ms, RSS $overload_rss MB" "validate alone $hs_rps req/s" "$(ratio "$overloaded_rps" "$hs_rps")" "≥ 0.5"

# 4. Refresh (rotation, a new signed pair) per signing algorithm, against pgbench TPC-B-like on
# the same PostgreSQL with the same 32 connections.
pgbench_tables
tps=$(pgbench_tps)
for algorithm in HS256 ES256 EdDSA RS256; do
  keys=()
  if [[ $algorithm != HS256 ]]; then
    "$binary" keys generate --algorithm "$algorithm" --out-dir "$work/keys-$algorithm" >/dev/null
    keys=(JWT_ALGORITHM="$algorithm" JWT_PRIVATE_KEY_PATH="$work/keys-$algorithm/private.pem" JWT_PUBLIC_KEY_PATH="$work/keys-$algorithm/public.pem")
  fi
  start_service "refresh-$algorithm" BCRYPT_COST=4 "${keys[@]}"
  refresh_port=$port refresh_pid=$pid
  python3 bench/mint_tokens.py "$refresh_port" 32 "refresh-$algorithm@example.com" refresh_token >"$work/refresh-tokens-$algorithm"
  read -r refresh_rps _ refresh_p99 <<<"$(REFRESH_TOKENS="$work/refresh-tokens-$algorithm" wrk_run "http://127.0.0.1:$refresh_port/auth/refresh" -s bench/refresh.lua)"
  target="≥ 1.0"; [[ $algorithm == RS256 ]] && target="≥ 0.5"
  row "refresh $algorithm (rotation, PostgreSQL)" "$refresh_rps req/s, p99 $refresh_p99 ms, RSS $(rss_mb "$refresh_pid") MB" "pgbench TPC-B $tps tps" "$(ratio "$refresh_rps" "$tps")" "$target"
  kill "$refresh_pid" 2>/dev/null || true
done

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

fi

# 2b. Profile reads: GET /auth/me (a verified token, then one query for the account) against
# pgbench -S (one primary-key select a transaction) on the same PostgreSQL, both with 32
# connections: wrk's 32 and a pool of 32. The CPU each process spent per request says where a
# difference goes (the flame graph of the service: bench/profile.sh).
if section me; then
  start_service me DATABASE_MAX_CONNECTIONS=32
  me_port=$port me_pid=$pid
  seed_user "$me_port"
  me_token=$(login_token "$me_port")
  pgbench_tables
  # per_request BEFORE AFTER COUNT: "service postgres other" CPU µs per request between two readings.
  per_request() { python3 -c "
b, a, n = [float(v) for v in '$1'.split()], [float(v) for v in '$2'.split()], max(1.0, float('$3'))
service, postgres, machine = (a[i] - b[i] for i in range(3))
print(f'{service / n * 1e6:.0f} {postgres / n * 1e6:.0f} {(machine - service - postgres) / n * 1e6:.0f}')"; }
  before=$(python3 bench/cpu.py "$me_pid")
  select_tps=$(pgbench_tps -S)
  after=$(python3 bench/cpu.py "$me_pid")
  read -r _ select_pg select_client <<<"$(per_request "$before" "$after" "$((select_tps * duration))")"
  before=$(python3 bench/cpu.py "$me_pid")
  read -r me_rps _ me_p99 <<<"$(wrk_run "http://127.0.0.1:$me_port/auth/me" -H "Authorization: Bearer $me_token")"
  after=$(python3 bench/cpu.py "$me_pid")
  read -r me_service me_pg me_client <<<"$(per_request "$before" "$after" "$(( ${me_rps%.*} * duration ))")"
  row "GET /auth/me, 32 connections" "$me_rps req/s, p99 $me_p99 ms; CPU per request: service $me_service µs, PostgreSQL $me_pg µs, wrk and the rest $me_client µs" \
    "pgbench -S $select_tps tps; CPU per transaction: PostgreSQL $select_pg µs, pgbench and the rest $select_client µs" "$(ratio "$me_rps" "$select_tps")" "≥ 0.8"
  kill "$me_pid" 2>/dev/null || true
fi

# 6. A million users: the request paths measured on an empty database, then again after
# bench/seed.sql filled it (accounts, sessions, revocations inside the token lifetime). Every
# table of more than 10,000 rows must be read through an index meanwhile: pg_stat_user_tables
# counts sequential scans, and any on such a table fails the full run.
sequential=none
if section scale; then
if $smoke; then seed_users=20000 seed_revoked=2000; else seed_users=1000000 seed_revoked=100000; fi
scale_url="${database_admin%/*}/${database}_scale"
psql -q -d "$database_admin" -c "create database ${database}_scale" >/dev/null
scans() { psql -At -F' ' -d "$scale_url" -c "select relname, seq_scan, n_live_tup from pg_stat_user_tables order by relname"; }
# scale_figures NAME: a fresh instance on the scale database; sets start_ms and the *_rps figures.
# Scans are counted from when it is ready: loading the whole revocation log at start-up is a
# full read by design.
scale_figures() {
  local name=$1 started
  started=$(date +%s%N)
  DATABASE_URL_OVERRIDE="$scale_url" start_service "$name" BCRYPT_COST=4
  start_ms=$(( ($(date +%s%N) - started) / 1000000 ))
  # A backend reports its table statistics when idle, up to 10 s later (PGSTAT_IDLE_INTERVAL):
  # without the wait, the start-up load's full read would be counted as the load's.
  $smoke || sleep 11
  scans >"$work/scans-before-$name"
  scale_port=$port scale_pid=$pid
  curl -fs "http://127.0.0.1:$scale_port/auth/register" -H 'content-type: application/json' \
    -d '{"email":"scale@example.com","password":"benchmark password"}' >/dev/null || true
  # The admin list's prefix matches the same 111 accounts before and after seeding, so both
  # figures read, sort and page the same rows (seeded emails are seed-N@example.com).
  python3 - "$scale_port" <<'PY'
import http.client, json, sys
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for n in range(111):
    body = json.dumps({"email": f"listed-{n}@example.com", "password": "benchmark password"})
    connection.request("POST", "/auth/register", body, {"Content-Type": "application/json"})
    connection.getresponse().read()
PY
  printf 'benchmark password\n' | DATABASE_URL="$scale_url" JWT_SECRET="benchmark-secret-that-is-long-enough-0123456789" \
    LOG_FORMAT=json RUST_LOG=error "$binary" create-admin --email scale-admin@example.com --password-stdin >/dev/null 2>&1 || true
  local token admin
  token=$(python3 bench/mint_tokens.py "$scale_port" 1 scale@example.com)
  admin=$(python3 bench/mint_tokens.py "$scale_port" 1 scale-admin@example.com)
  python3 bench/mint_tokens.py "$scale_port" 32 scale@example.com refresh_token >"$work/scale-refresh-$name"
  read -r login_rps _ _ <<<"$(LOGIN_EMAIL=scale@example.com wrk_run "http://127.0.0.1:$scale_port/auth/login" -s bench/login.lua)"
  read -r refresh_rps _ _ <<<"$(REFRESH_TOKENS="$work/scale-refresh-$name" wrk_run "http://127.0.0.1:$scale_port/auth/refresh" -s bench/refresh.lua)"
  read -r validate_rps _ _ <<<"$(wrk_run "http://127.0.0.1:$scale_port/auth/validate" -H "Authorization: Bearer $token")"
  read -r me_rps _ _ <<<"$(wrk_run "http://127.0.0.1:$scale_port/auth/me" -H "Authorization: Bearer $token")"
  read -r list_rps _ _ <<<"$(wrk_run "http://127.0.0.1:$scale_port/admin/users?email=listed-&limit=20" -H "Authorization: Bearer $admin")"
  scale_rss=$(rss_mb "$scale_pid")
  kill "$scale_pid" 2>/dev/null || true
}
scale_figures scale-empty
empty=("$login_rps" "$refresh_rps" "$validate_rps" "$me_rps" "$list_rps" "$start_ms" "$scale_rss")
say "seeding $seed_users accounts and sessions, $seed_revoked revoked"
hash=$(psql -At -d "$scale_url" -c "select password_hash from users where email_key = 'scale@example.com'")
seed_started=$(date +%s)
psql -q -v users="$seed_users" -v revoked="$seed_revoked" -v hash="$hash" -f bench/seed.sql "$scale_url" >/dev/null
seed_seconds=$(( $(date +%s) - seed_started ))
scale_figures scale-full
scans >"$work/scans-after"
sequential=$(python3 - "$work/scans-before-scale-full" "$work/scans-after" <<'PY'
import sys
read = lambda path: {name: (int(scans), int(rows)) for name, scans, rows in (line.split() for line in open(path) if line.strip())}
before, after = read(sys.argv[1]), read(sys.argv[2])
print(" ".join(f"{name}({after[name][0] - before.get(name, (0, 0))[0]})" for name in sorted(after)
               if after[name][1] > 10_000 and after[name][0] > before.get(name, (0, 0))[0]) or "none")
PY
)
labels=("login (bcrypt cost 4)" "refresh" "validate" "GET /auth/me" "admin list by email prefix")
full=("$login_rps" "$refresh_rps" "$validate_rps" "$me_rps" "$list_rps")
for i in "${!labels[@]}"; do
  row "$seed_users users: ${labels[$i]}" "${full[$i]} req/s" "empty database ${empty[$i]} req/s" "$(ratio "${full[$i]}" "${empty[$i]}")" "≥ 0.8"
done
row "$seed_users users: start to ready (PostgreSQL, $seed_revoked revocations loaded)" "$start_ms ms, RSS after load $scale_rss MB" "empty database ${empty[5]} ms, ${empty[6]} MB" "" "< 2000 ms, < 150 MB"
row "$seed_users users: sequential scans on tables over 10,000 rows" "$sequential" "seeded in $seed_seconds s" "" "none"

# 6b. The plan of every statement the request paths and the background work run on the seeded
# database: auto_explain logs each (custom plans, then a prepared statement's generic one) to the
# server log, read back by bench/plans.py. Needs a superuser and a readable server log.
server_log=$(psql -At -d "$database_admin" -c "select case when current_setting('logging_collector') = 'on' then current_setting('data_directory') || '/' || pg_current_logfile() end" 2>/dev/null || true)
[[ -n $server_log ]] || server_log=$(ls /var/log/postgresql/postgresql-"$(psql -At -d "$database_admin" -c 'show server_version_num' | cut -c1-2)"-main.log 2>/dev/null || true)
plans=skipped
if [[ -r $server_log ]] && psql -q -d "$database_admin" -c "alter database ${database}_scale set session_preload_libraries = 'auto_explain'" \
    -c "alter database ${database}_scale set auto_explain.log_min_duration = 0" >/dev/null 2>&1; then
  offset=$(stat -c %s "$server_log")
  DATABASE_URL_OVERRIDE="$scale_url" start_service scale-plans BCRYPT_COST=4
  ready_at=$(psql -At -d "$database_admin" -c "select to_char(now() at time zone current_setting('log_timezone'), 'YYYY-MM-DD HH24:MI:SS.MS')")
  python3 bench/request_paths.py "$port" scale-admin@example.com "benchmark password" 8
  sleep 2  # a revocation poll and an outbox pass or two
  kill "$pid" 2>/dev/null || true
  scans >"$work/scans-plans"
  python3 bench/plans.py "$server_log" "$offset" "$ready_at" "${database}_scale" "$work/scans-plans" >"$work/plans"
  plans=$(tail -1 "$work/plans"); plans=${plans#sequential: }
  [[ $plans == none ]] || sequential="$sequential, plans: $plans"
  statements=$(grep -m1 ' statements$' "$work/plans" || true)
else
  say "query plans skipped: no superuser or no readable server log ($server_log)"
fi
row "$seed_users users: query plans with a sequential scan of a table over 10,000 rows" "$plans" "${statements:-}" "" "none"
fi

# 7. Side by side with better-auth, the peer users pick instead: bench/peers.sh installs it from
# npm into bench/peers/better-auth and prints its rows (auth-service ÷ better-auth).
if section peers; then
  peer_args=(); $smoke && peer_args=(--smoke)
  BINARY="$binary" DURATION="$duration" TEST_DATABASE_URL="$database_admin" TEST_REDIS_URL="$redis_url" \
    bash bench/peers.sh "${peer_args[@]}" >"$work/peers"
  while IFS= read -r line; do [[ -n $line ]] && rows+=("$line"); done <"$work/peers"
fi

printf '\nauth-service benchmark: %s cores, %s s per measurement, %s\n\n' "$cores" "$duration" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '| row | measured | baseline (same run) | ratio | target |\n|---|---|---|---|---|\n'
printf '%s\n' "${rows[@]}"
if [[ -s ${work}/plans ]]; then printf '\n## Query plans on the seeded database\n'; sed '$d' "$work/plans"; fi
if ! $smoke && [[ "$sequential" != none ]]; then say "sequential scans on big tables: $sequential"; exit 1; fi
