#!/usr/bin/env bash
# Side by side with better-auth (npm): the same requests against auth-service and against a
# minimal better-auth server (bench/peers/better-auth/), on the same PostgreSQL server, one
# right after the other in the same run. Prints markdown rows only, one per line:
#
#   | better-auth: ROW | better-auth's figures | auth-service FIGURES | RATIO | |
#
# RATIO is auth-service's requests/s ÷ better-auth's: above 1, auth-service serves more.
#
#   row               better-auth                         auth-service
#   register          POST /api/auth/sign-up/email         POST /auth/register
#   login             POST /api/auth/sign-in/email         POST /auth/login
#   me                GET /api/auth/get-session (cookie)   GET /auth/me (bearer)
#   token validation  GET /validate (jose, cached JWKS)    GET /auth/validate
#   refresh           GET /api/auth/token (cookie)         POST /auth/refresh (rotation)
#   login (scrypt)    sign-in with its default hasher      the bcrypt login above
#
# Hashing rows use two connections per core on both sides, the others 32. What each side does
# per request differs in places; BENCHMARKS.md lists how.
#
#   bench/peers.sh            10 s per measurement
#   bench/peers.sh --smoke    2 s per measurement (checks the harness works)
#
# Environment: BINARY (target/release/auth-service, built beforehand), DURATION (seconds),
# TEST_DATABASE_URL and TEST_REDIS_URL as for bench/run.sh. Needs node 20 or later and npm
# (the registry, for `npm ci`); installs wrk with apt when missing. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=false
case ${1:-} in
  "") ;;
  --smoke) smoke=true ;;
  *) echo "usage: bench/peers.sh [--smoke]" >&2; exit 2 ;;
esac
if $smoke; then duration=${DURATION:-2}; else duration=${DURATION:-10}; fi
binary=${BINARY:-target/release/auth-service}
database_admin="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis_url="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
peer=bench/peers/better-auth
# Both sides get this many PostgreSQL connections in all (better-auth: split across its workers).
pool_size=20
cores=$(nproc)
password="benchmark password"
secret="benchmark-secret-that-is-long-enough-0123456789"
say() { printf 'bench: %s\n' "$*" >&2; }

[[ -x $binary ]] || { say "no auth-service binary at $binary (cargo build --release first, or set BINARY)"; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || { say "better-auth needs node 20 or later, found $(node --version)"; exit 1; }
if ! command -v wrk >/dev/null; then
  say "installing wrk"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

say "installing better-auth ($peer)"
if [[ -f $peer/package-lock.json ]]; then
  (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error >&2)
else
  (cd "$peer" && npm install --no-audit --no-fund --loglevel=error >&2)
fi
better_auth_version=$(node -p "require('./$peer/node_modules/better-auth/package.json').version")

work=$(mktemp -d)
pids=()
database="peers_$(date +%s)_$$"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # better-auth's workers leave a moment after their primary: force their connections closed.
  for name in service better_auth; do
    psql -q -d "$database_admin" -c "drop database if exists ${database}_$name with (force)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
for name in service better_auth; do psql -q -d "$database_admin" -c "create database ${database}_$name" >/dev/null; done
service_database_url="${database_admin%/*}/${database}_service"
peer_database_url="${database_admin%/*}/${database}_better_auth"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_ready NAME URL LOG: until URL answers 2xx.
wait_ready() {
  for _ in $(seq 300); do curl -fs "$2" >/dev/null && return; sleep 0.05; done
  say "$1 did not become ready"; cat "$3" >&2; exit 1
}

# start_service: auth-service as bench/run.sh starts it, with EdDSA (better-auth's JWT plugin
# default) and bcrypt 12; sets $service_port.
"$binary" keys generate --algorithm EdDSA --out-dir "$work/eddsa" >/dev/null
start_service() {
  service_port=$(free_port)
  env DATABASE_URL="$service_database_url" DATABASE_MAX_CONNECTIONS="$pool_size" REDIS_URL="$redis_url" \
    REDIS_KEY_PREFIX="bench-peers-$$:" SERVICE_PORT="$service_port" JWT_SECRET="$secret" \
    JWT_ALGORITHM=EdDSA JWT_PRIVATE_KEY_PATH="$work/eddsa/private.pem" JWT_PUBLIC_KEY_PATH="$work/eddsa/public.pem" \
    RATE_LIMIT_PER_MINUTE=0 LOGIN_FAILURE_LIMIT=0 BCRYPT_COST=12 LOG_FORMAT=json RUST_LOG=warn \
    "$binary" serve >"$work/service.log" 2>&1 &
  pids+=("$!")
  wait_ready auth-service "http://127.0.0.1:$service_port/health/ready" "$work/service.log"
}

# start_peer NAME PASSWORD_HASH: a better-auth server, one worker per core; sets $peer_port and
# $peer_pid.
start_peer() {
  peer_port=$(free_port)
  env NODE_ENV=production DATABASE_URL="$peer_database_url" PORT="$peer_port" BETTER_AUTH_SECRET="$secret" \
    PASSWORD_HASH="$2" BCRYPT_COST=12 POOL_SIZE="$pool_size" WORKERS="$cores" \
    node "$peer/server.mjs" >"$work/$1.log" 2>&1 &
  peer_pid=$!
  pids+=("$peer_pid")
  wait_ready "better-auth ($1)" "http://127.0.0.1:$peer_port/api/auth/ok" "$work/$1.log"
}

# measure CONNECTIONS URL [wrk args...]: prints "requests/s p50_ms p99_ms errors", then waits
# until both servers are idle again (settle.py). Errors are non-2xx answers and socket errors,
# which wrk counts in its rate. The timeout is long enough that queueing for hashing shows in
# p99 instead of being cut off at wrk's default 2 s.
measure() {
  local connections=$1 url=$2; shift 2
  wrk -t1 -c"$connections" -d"${duration}s" --timeout 30s --latency "$@" "$url" >"$work/wrk.out" 2>/dev/null || true
  local rate p50 p99 errors
  read -r _ p50 p99 <<<"$(python3 bench/wrk_summary.py <"$work/wrk.out")"
  # wrk_summary.py rounds the rate to whole requests; hashing rows need the decimals.
  rate=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")
  errors=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/wrk.out")
  python3 bench/peers/settle.py "${pids[@]}"
  printf '%s %s %s %s\n' "$rate" "$p50" "$p99" "$errors"
}
# warm_up URL [wrk args...]: a short unmeasured run, so Node's JIT is past its first seconds.
warm_up() {
  local url=$1; shift
  $smoke || wrk -t1 -c32 -d2s "$@" "$url" >/dev/null 2>&1 || true
}

rate() { if awk "BEGIN {exit !($1 < 100)}"; then printf '%.1f' "$1"; else printf '%.0f' "$1"; fi; }
figures() { # requests/s p50 p99 errors
  local text
  text="$(rate "$1") req/s, p50 $2 ms, p99 $3 ms"
  [[ $4 == 0 ]] || text+=", $4 errors"
  printf '%s' "$text"
}
ratio() { python3 -c "a, b = float('$1'), float('$2'); print(f'{a / b:.2f}' if b else 'n/a')"; }
rows=()
# compare ROW PEER_FIGURES SERVICE_FIGURES
compare() {
  local peer_side service_side
  read -r -a peer_side <<<"$2"
  read -r -a service_side <<<"$3"
  rows+=("$(printf '| better-auth: %s | %s | auth-service %s | %s | |' "$1" "$(figures "${peer_side[@]}")" \
    "$(figures "${service_side[@]}")" "$(ratio "${service_side[0]}" "${peer_side[0]}")")")
  say "$1: better-auth $(rate "${peer_side[0]}") req/s, auth-service $(rate "${service_side[0]}") req/s"
}

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }

say "starting auth-service ($binary) and better-auth $better_auth_version (bcryptjs, $cores workers)"
start_service
start_peer bcrypt bcrypt
service="http://127.0.0.1:$service_port"
better_auth="http://127.0.0.1:$peer_port"

# One account and one signed-in session on each side, for the rows that need them.
credentials="{\"email\":\"bench@example.com\",\"password\":\"$password\"}"
curl -fs "$service/auth/register" -H 'content-type: application/json' -d "$credentials" >/dev/null
curl -fs "$better_auth/api/auth/sign-up/email" -H 'content-type: application/json' \
  -d "{\"name\":\"bench\",\"email\":\"bench@example.com\",\"password\":\"$password\"}" >/dev/null
access_token=$(curl -fs "$service/auth/login" -H 'content-type: application/json' -d "$credentials" | json_field access_token)
session_cookie=$(curl -fs -o /dev/null -D - "$better_auth/api/auth/sign-in/email" -H 'content-type: application/json' -d "$credentials" |
  sed -n 's/^set-cookie: \(better-auth\.session_token=[^;]*\);.*/\1/Ip')
[[ -n $session_cookie ]] || { say "better-auth's sign-in set no session cookie"; exit 1; }
peer_token=$(curl -fs "$better_auth/api/auth/token" -H "Cookie: $session_cookie" | json_field token)
curl -fs "$better_auth/validate" -H "Authorization: Bearer $peer_token" >/dev/null
say "minting 32 refresh tokens"
python3 bench/mint_tokens.py "$service_port" 32 refresh@example.com refresh_token >"$work/refresh-tokens"

# Hashing rows: two connections per core on both sides, each request a bcrypt at cost 12.
# More would not hash faster, and better-auth's workers interleave the hashes in flight (bcryptjs
# yields to the event loop between rounds), so they finish together in bursts that a 10 s
# window would cut at random.
hashing=$((2 * cores))
say "register"
peer_figures=$(REGISTER_PATH=/api/auth/sign-up/email measure "$hashing" "$better_auth/api/auth/sign-up/email" -s bench/register.lua)
service_figures=$(measure "$hashing" "$service/auth/register" -s bench/register.lua)
compare "register (bcrypt 12)" "$peer_figures" "$service_figures"

say "login"
# bench/login.lua's body is also better-auth's sign-in body.
peer_figures=$(measure "$hashing" "$better_auth/api/auth/sign-in/email" -s bench/login.lua)
service_login=$(measure "$hashing" "$service/auth/login" -s bench/login.lua)
compare "login (bcrypt 12)" "$peer_figures" "$service_login"

# Reads and signing: 32 connections, one session (cookie) or access token.
# side_by_side ROW PEER_URL PEER_HEADER SERVICE_URL SERVICE_HEADER: both warmed up, then measured.
side_by_side() {
  say "$1"
  warm_up "$2" -H "$3"
  warm_up "$4" -H "$5"
  peer_figures=$(measure 32 "$2" -H "$3")
  service_figures=$(measure 32 "$4" -H "$5")
  compare "$1" "$peer_figures" "$service_figures"
}
side_by_side "me" "$better_auth/api/auth/get-session" "Cookie: $session_cookie" "$service/auth/me" "Authorization: Bearer $access_token"
side_by_side "token validation (EdDSA)" "$better_auth/validate" "Authorization: Bearer $peer_token" \
  "$service/auth/validate" "Authorization: Bearer $access_token"

say "refresh"
# No warm-up for auth-service here: it would spend the chains' seed tokens.
warm_up "$better_auth/api/auth/token" -H "Cookie: $session_cookie"
peer_figures=$(measure 32 "$better_auth/api/auth/token" -H "Cookie: $session_cookie")
service_figures=$(REFRESH_TOKENS="$work/refresh-tokens" measure 32 "$service/auth/refresh" -s bench/refresh.lua)
compare "refresh (EdDSA)" "$peer_figures" "$service_figures"

# better-auth's default hasher (scrypt), against auth-service's login (bcrypt 12) above.
say "login with better-auth's default hasher (scrypt)"
kill "$peer_pid"
wait "$peer_pid" 2>/dev/null || true
start_peer scrypt scrypt
better_auth="http://127.0.0.1:$peer_port"
curl -fs "$better_auth/api/auth/sign-up/email" -H 'content-type: application/json' \
  -d "{\"name\":\"bench\",\"email\":\"scrypt@example.com\",\"password\":\"$password\"}" >/dev/null
peer_figures=$(LOGIN_EMAIL=scrypt@example.com measure "$hashing" "$better_auth/api/auth/sign-in/email" -s bench/login.lua)
compare "login (scrypt, its default)" "$peer_figures" "$service_login"

printf '%s\n' "${rows[@]}"
