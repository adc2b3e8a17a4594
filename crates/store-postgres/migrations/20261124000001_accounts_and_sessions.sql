-- Accounts. `email` keeps the address as typed; `email_key` (trimmed, lower-cased) is what
-- uniqueness and look-ups use, so Alice@Example.COM and alice@example.com are one account.
CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL,
    email_key      text NOT NULL,
    full_name      text,
    role           text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    is_active      boolean NOT NULL DEFAULT true,
    email_verified boolean NOT NULL DEFAULT false,
    -- NULL for accounts that only sign in through a social provider.
    password_hash  text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT users_email_key_unique UNIQUE (email_key)
);

-- Social identities: one provider account maps to exactly one user, whatever its email becomes.
CREATE TABLE identities (
    provider      text NOT NULL,
    subject       text NOT NULL,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         text,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX identities_user_idx ON identities (user_id);

-- A session is one refresh-token family. `current_token_hash` is the live token; rows in
-- refresh_tokens remember every token of the family so a spent one is recognised as reuse.
CREATE TABLE sessions (
    id                 uuid PRIMARY KEY,
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent         text,
    ip_address         text,
    created_at         timestamptz NOT NULL,
    last_seen_at       timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    revoked_at         timestamptz,
    current_token_hash bytea NOT NULL,
    rotated_at         timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at DESC);

CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    spent_at   timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- The revocation log the validation hot path is fed from. No foreign key: a deleted user's
-- sessions must stay revoked until their access tokens have expired.
CREATE TABLE session_revocations (
    session_id uuid PRIMARY KEY,
    user_id    uuid NOT NULL,
    revoked_at timestamptz NOT NULL
);
CREATE INDEX session_revocations_time_idx ON session_revocations (revoked_at);
