#!/usr/bin/env bash
# Runs every test of the workspace on both backends: SQLite + in-process cache, and
# PostgreSQL + Redis. Uses PostgreSQL and Redis where they answer at the configured URLs
# (TEST_DATABASE_URL, TEST_REDIS_URL); otherwise starts throwaway servers from the installed
# binaries on free ports (installing them with apt when missing and running as root).
# Under CI (CI=true) the PostgreSQL + Redis runs are mandatory. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

database_url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis_url="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
work=$(mktemp -d)
pids=()
cleanup() {
  # Each test created its own database; drop them so repeated runs do not pile them up.
  if [[ -n "${TEST_DATABASE_URL:-}" ]] && command -v psql >/dev/null; then
    psql -q -d "$TEST_DATABASE_URL" -At -c "select datname from pg_database where datname like 'auth_test_%'" 2>/dev/null |
      while read -r name; do psql -q -d "$TEST_DATABASE_URL" -c "drop database if exists $name" >/dev/null 2>&1 || true; done
  fi
  local scratch="${TMPDIR:-/tmp}"
  rm -rf "$scratch"/auth-test-*.db* "$scratch"/auth-keys-* "$scratch"/auth-process-* "$scratch"/standin-*.pem \
    "$scratch"/nginx-* "$scratch"/pg-outage-* "$scratch"/redis-cluster-* 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -f "$work/pg/postmaster.pid" ]]; then as_postgres "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf 'test.sh: %s\n' "$*" >&2; }
command -v cargo >/dev/null || { say "cargo not found: install Rust with rustup (https://rustup.rs)"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
host_port() { local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"; echo "${rest%%\?*}"; }

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    say "$1 is missing; install it (Debian: apt-get install $*) or set the TEST_* URLs"; return 1
  fi
  say "installing $* with apt"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres_answers() {
  local address; address=$(host_port "$1")
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "${address%:*}" -p "${address##*:}" -t 2
  else
    (exec 3<>"/dev/tcp/${address%:*}/${address##*:}") 2>/dev/null
  fi
}

redis_answers() {
  local address; address=$(host_port "$1")
  if command -v redis-cli >/dev/null; then
    [[ $(timeout 3 redis-cli -u "$1" ping 2>/dev/null) == "PONG" ]]
  else
    (exec 3<>"/dev/tcp/${address%:*}/${address##*:}" && printf 'PING\r\n' >&3 && timeout 2 head -c5 <&3 | grep -q PONG) 2>/dev/null
  fi
}

# PostgreSQL refuses to run as root, so its throwaway server runs as user postgres.
as_postgres() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

find_pg_bin() { for dir in /usr/lib/postgresql/*/bin; do [[ -x "$dir/initdb" ]] && { echo "$dir"; return; }; done; dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)"; }

start_postgres() {
  pg_bin=$(find_pg_bin)
  if [[ ! -x "$pg_bin/initdb" ]]; then apt_install postgresql || return 1; pg_bin=$(find_pg_bin); fi
  local port; port=$(free_port)
  mkdir -p "$work/pg"
  [[ $(id -u) -eq 0 ]] && chown -R postgres "$work" && chmod 755 "$work"
  as_postgres "$pg_bin/initdb" -D "$work/pg" -U postgres --auth=trust >/dev/null
  as_postgres "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$work -c fsync=off -c max_connections=300" start >/dev/null
  database_url="postgres://postgres@127.0.0.1:$port/postgres"
  say "started a throwaway PostgreSQL on port $port"
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server || return 1
  local port; port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --logfile "$work/redis.log" &
  pids+=($!)
  redis_url="redis://127.0.0.1:$port"
  for _ in $(seq 50); do redis_answers "$redis_url" && break; sleep 0.1; done
  say "started a throwaway Redis on port $port"
}

postgres_ok=true redis_ok=true
postgres_answers "$database_url" || start_postgres || postgres_ok=false
$postgres_ok && postgres_answers "$database_url" || postgres_ok=false
redis_answers "$redis_url" || start_redis || redis_ok=false
$redis_ok && redis_answers "$redis_url" || redis_ok=false

if $postgres_ok && $redis_ok; then
  export TEST_DATABASE_URL="$database_url" TEST_REDIS_URL="$redis_url"
  say "PostgreSQL: $(host_port "$database_url"), Redis: $(host_port "$redis_url")"
elif [[ "${CI:-}" == "true" ]]; then
  say "CI needs PostgreSQL and Redis, and at least one could not be reached or started"; exit 1
else
  unset TEST_DATABASE_URL TEST_REDIS_URL
  say "WARNING: PostgreSQL or Redis unavailable: only the SQLite + in-process variants will run"
fi
[[ "${CI:-}" == "true" ]] && export AUTH_TEST_REQUIRE_BACKENDS=1

# The gateway test runs the shipped nginx configuration for real.
if [[ ! -x /usr/sbin/nginx ]]; then
  # Keep the package from starting a system nginx on port 80 while installing.
  if [[ $(id -u) -eq 0 && ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt_install nginx-light || apt_install nginx || true
    rm -f /usr/sbin/policy-rc.d
  else
    apt_install nginx-light || true
  fi
fi

# The social sign-in tests run a real OpenID Provider (oidc-provider, from npm) as Google's stand-in.
standin=crates/server/tests/oidc-standin
if [[ ! -d "$standin/node_modules/oidc-provider" ]]; then
  command -v npm >/dev/null || apt_install nodejs npm || { say "Node.js and npm are needed for the social sign-in tests"; exit 1; }
  (cd "$standin" && npm ci --no-audit --no-fund --silent)
fi

# The browser tests drive the hosted pages in Debian's Chromium through playwright-core, which
# must never download a browser of its own.
if [[ ! -x /usr/bin/chromium ]]; then
  apt_install chromium || { say "Chromium is needed for the browser tests"; [[ "${CI:-}" != "true" ]] || exit 1; }
fi
# The OpenID provider is driven by openid-client, an OpenID Certified relying-party library.
relying_party=crates/server/tests/oidc-clients
if [[ ! -d "$relying_party/node_modules/openid-client" ]]; then
  (cd "$relying_party" && npm ci --no-audit --no-fund --silent)
fi
browser=crates/server/tests/browser
if [[ ! -d "$browser/node_modules/playwright-core" ]]; then
  (cd "$browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

# The event tests run the Python consumer examples in examples/events (the stream consumer needs
# redis-py) and the OpenID provider tests run Authlib; both live in a virtualenv under target/.
examples_venv="target/examples-venv"
if [[ ! -x "$examples_venv/bin/python" ]] || ! "$examples_venv/bin/python" -c 'import redis, authlib, requests' 2>/dev/null; then
  python3 -m venv "$examples_venv" && "$examples_venv/bin/pip" install --quiet --disable-pip-version-check \
    'redis==5.2.1' 'authlib==1.6.5' 'requests==2.32.3' ||
    { say "could not install redis-py for the event consumer example"; [[ "${CI:-}" != "true" ]] || exit 1; }
fi
[[ -x "$examples_venv/bin/python" ]] && export AUTH_TEST_EXAMPLES_PYTHON="$PWD/$examples_venv/bin/python"

if [[ -n "${AUTH_TEST_DRY_RUN:-}" ]]; then env | grep -E '^(TEST_|AUTH_TEST_)' || true; exit 0; fi

cargo test --workspace --all-targets "$@"

# A full run (no filter given) also fuzzes the API from its OpenAPI document.
if [[ $# -eq 0 && -z "${AUTH_TEST_SKIP_FUZZ:-}" ]]; then
  bash scripts/fuzz.sh
fi

# CI also runs the benchmark harness briefly, on the same PostgreSQL and Redis, to keep it working.
if [[ -n "${AUTH_TEST_BENCH_SMOKE:-}" ]]; then
  bash bench/run.sh --smoke --peers
fi
