-- The transactional outbox; same schema as the PostgreSQL backend.
CREATE TABLE events (
    sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    occurred_at     INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_by       TEXT,
    locked_until    INTEGER,
    delivered_sinks TEXT NOT NULL DEFAULT '',
    last_error      TEXT,
    finished_at     INTEGER
);
CREATE INDEX events_pending_idx ON events (next_attempt_at) WHERE state = 'pending';
CREATE INDEX events_pending_user_idx ON events (user_id, sequence) WHERE state = 'pending';
CREATE INDEX events_finished_idx ON events (state, finished_at);
