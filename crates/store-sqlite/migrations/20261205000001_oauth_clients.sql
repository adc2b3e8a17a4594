-- The OpenID provider (contract: shared/spec/oauth-provider.md); same schema as PostgreSQL.
-- List columns hold JSON arrays of strings. Secrets are stored only as SHA-256 hex: they are
-- 256-bit random, so a dump does not yield them.
CREATE TABLE oauth_clients (
    id                         TEXT PRIMARY KEY NOT NULL,
    client_id                  TEXT NOT NULL UNIQUE,
    name                       TEXT NOT NULL,
    kind                       TEXT NOT NULL CHECK (kind IN ('public', 'confidential')),
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    scopes                     TEXT NOT NULL,
    first_party                INTEGER NOT NULL DEFAULT 0,
    audience                   TEXT,
    secret_hash                TEXT,
    previous_secret_hash       TEXT,
    previous_secret_expires_at INTEGER,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);

-- What a person consented to give a client.
CREATE TABLE oauth_grants (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- A session opened by an authorization is held by its client: the refresh-token family of that
-- grant. No foreign key: deleting a client revokes its sessions, whose rows stay for the log.
ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;
CREATE INDEX sessions_client_idx ON sessions (client_id) WHERE client_id IS NOT NULL;
