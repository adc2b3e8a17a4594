-- The revocation poll reads the log by the writing transaction's id, not by `revoked_at`: the
-- application stamps `revoked_at` before its transaction commits, possibly much later, so a poll
-- by time can step over a row that becomes visible afterwards. Every insert records its
-- top-level transaction id (64-bit, so it never wraps); rows already here get this migration's.
ALTER TABLE session_revocations
    ADD COLUMN tx bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX session_revocations_tx_idx ON session_revocations (tx);
