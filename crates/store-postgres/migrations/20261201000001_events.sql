-- The transactional outbox: every user event is written in the transaction of the change it
-- describes, and delivered later by the dispatcher. `sequence` is the delivery order.
CREATE TABLE events (
    sequence        bigserial PRIMARY KEY,
    id              uuid NOT NULL UNIQUE,
    event_type      text NOT NULL,
    -- No foreign key: `user.deleted` outlives its user.
    user_id         uuid NOT NULL,
    occurred_at     timestamptz NOT NULL,
    payload         text NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- A worker's lease: nobody else sends the event before it runs out.
    locked_by       uuid,
    locked_until    timestamptz,
    -- Comma-separated sinks that accepted the event, so a retry skips them.
    delivered_sinks text NOT NULL DEFAULT '',
    last_error      text,
    finished_at     timestamptz
);
CREATE INDEX events_pending_idx ON events (next_attempt_at) WHERE state = 'pending';
CREATE INDEX events_pending_user_idx ON events (user_id, sequence) WHERE state = 'pending';
CREATE INDEX events_finished_idx ON events (state, finished_at);
