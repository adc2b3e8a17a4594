-- The OpenID provider (contract: shared/spec/oauth-provider.md); same schema as SQLite.
-- List columns hold JSON arrays of strings. Secrets are stored only as SHA-256 hex: they are
-- 256-bit random, so a dump does not yield them.
CREATE TABLE oauth_clients (
    id                         uuid PRIMARY KEY,
    client_id                  text NOT NULL UNIQUE,
    name                       text NOT NULL,
    kind                       text NOT NULL CHECK (kind IN ('public', 'confidential')),
    redirect_uris              text NOT NULL,
    post_logout_redirect_uris  text NOT NULL,
    grant_types                text NOT NULL,
    scopes                     text NOT NULL,
    first_party                boolean NOT NULL DEFAULT false,
    audience                   text,
    secret_hash                text,
    previous_secret_hash       text,
    previous_secret_expires_at timestamptz,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);

-- What a person consented to give a client.
CREATE TABLE oauth_grants (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    scopes     text NOT NULL,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- A session opened by an authorization is held by its client: the refresh-token family of that
-- grant. No foreign key: deleting a client revokes its sessions, whose rows stay for the log.
ALTER TABLE sessions ADD COLUMN client_id text;
ALTER TABLE sessions ADD COLUMN scope text;
ALTER TABLE sessions ADD COLUMN auth_time timestamptz;
CREATE INDEX sessions_client_idx ON sessions (client_id) WHERE client_id IS NOT NULL;
