#!/usr/bin/env bash
# Fuzzes the whole API from its own OpenAPI document with schemathesis: every generated request
# must get no 5xx and a response that matches the published schema. Starts its own instance on
# a throwaway SQLite database. FUZZ_EXAMPLES bounds the examples per operation (default 25).
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${FUZZ_EXAMPLES:-25}"
venv="target/fuzz-venv"
if [[ ! -x "$venv/bin/st" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
cargo build --quiet --bin auth-service
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATABASE_URL="sqlite://$work/fuzz.db" SERVICE_PORT="$port" JWT_SECRET="fuzzing-secret-that-is-long-enough-0123" \
  BCRYPT_COST=4 RATE_LIMIT_PER_MINUTE=0 LOGIN_FAILURE_LIMIT=0 LOG_FORMAT=json RUST_LOG=warn \
  target/debug/auth-service serve >"$work/service.log" 2>&1 &
service=$!
trap 'kill $service 2>/dev/null || true; rm -rf "$work"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fs "$base/health/live" >/dev/null && break; sleep 0.1; done
# An administrator, so the admin endpoints are fuzzed past their role check.
printf 'fuzzing password\n' | DATABASE_URL="sqlite://$work/fuzz.db" JWT_SECRET="fuzzing-secret-that-is-long-enough-0123" \
  BCRYPT_COST=4 LOG_FORMAT=json RUST_LOG=error target/debug/auth-service create-admin --email fuzz@example.com --password-stdin >/dev/null
token=$(curl -fs "$base/auth/login" -H 'content-type: application/json' \
  -d '{"email":"fuzz@example.com","password":"fuzzing password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
"$venv/bin/st" run "$base/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$examples" --generation-deterministic --workers 2 \
  --exclude-path /auth/me --exclude-path /auth/logout --exclude-path /auth/logout-all \
  --exclude-path /auth_api/v1/auth/logout --exclude-path /auth_api/v1/auth/logout-all --exclude-method DELETE \
  -H "Authorization: Bearer $token"
if grep -q '"level":"ERROR"' "$work/service.log"; then
  echo "fuzz.sh: the service logged errors:" >&2; grep '"level":"ERROR"' "$work/service.log" | head -20 >&2; exit 1
fi
