-- Fills the benchmark's PostgreSQL database with :users accounts (email seed-N@example.com, all
-- with the one precomputed password hash :'hash'), one live session each (with its refresh
-- token), and :revoked of those sessions revoked just now, inside the access-token lifetime, so
-- every instance loads them into its revocation set at start-up.
--   psql -v users=1000000 -v revoked=100000 -v hash='...' -f bench/seed.sql DATABASE_URL
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE seeded ON COMMIT DROP AS
    SELECT gen_random_uuid() AS user_id, gen_random_uuid() AS session_id, n,
           sha256(convert_to('seed-refresh-' || n, 'UTF8')) AS token_hash
    FROM generate_series(1, :users) AS n;
INSERT INTO users (id, email, email_key, role, is_active, email_verified, password_hash, created_at, updated_at)
    SELECT user_id, 'seed-' || n || '@example.com', 'seed-' || n || '@example.com', 'user', true, true, :'hash',
           now() - interval '1 day', now() - interval '1 day'
    FROM seeded;
INSERT INTO sessions (id, user_id, user_agent, ip_address, created_at, last_seen_at, expires_at, current_token_hash, aal, amr)
    SELECT session_id, user_id, 'seed', '127.0.0.1', now() - interval '1 hour', now() - interval '1 hour',
           now() + interval '29 days', token_hash, 'aal1', 'pwd'
    FROM seeded;
INSERT INTO refresh_tokens (token_hash, session_id, issued_at)
    SELECT token_hash, session_id, now() - interval '1 hour' FROM seeded;
UPDATE sessions SET revoked_at = now() WHERE id IN (SELECT session_id FROM seeded WHERE n <= :revoked);
INSERT INTO session_revocations (session_id, user_id, revoked_at)
    SELECT session_id, user_id, now() FROM seeded WHERE n <= :revoked;
COMMIT;
-- Vacuumed as well as analysed: otherwise autovacuum wakes up for the million inserted rows of
-- each table in the middle of the measurements.
VACUUM (ANALYZE) users, sessions, refresh_tokens, session_revocations;
