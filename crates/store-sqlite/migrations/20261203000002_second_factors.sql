-- Second factors; same schema as the PostgreSQL backend (where the columns are explained).
CREATE TABLE totp_factors (
    user_id        TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret  TEXT NOT NULL,
    confirmed_at   INTEGER,
    last_used_step INTEGER,
    created_at     INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    CONSTRAINT passkeys_credential_id_unique UNIQUE (credential_id)
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id, created_at);
