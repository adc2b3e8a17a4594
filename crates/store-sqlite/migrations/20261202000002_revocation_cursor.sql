-- The revocation poll reads the log by a commit-ordered sequence, not by `revoked_at`: the
-- application stamps `revoked_at` before its transaction commits, possibly much later, so a poll
-- by time can step over a row that becomes visible afterwards. SQLite runs one write transaction
-- at a time, so a row's `seq` is above every row committed before it and below every row
-- committed after it: "seq above the highest seen" misses nothing. AUTOINCREMENT, unlike a plain
-- rowid, never hands out a number again, even after pruning has deleted every row.
CREATE TABLE session_revocations_by_sequence (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    revoked_at INTEGER NOT NULL
);
INSERT INTO session_revocations_by_sequence (session_id, user_id, revoked_at)
    SELECT session_id, user_id, revoked_at FROM session_revocations ORDER BY revoked_at;
DROP TABLE session_revocations;
ALTER TABLE session_revocations_by_sequence RENAME TO session_revocations;
CREATE INDEX session_revocations_time_idx ON session_revocations (revoked_at);
