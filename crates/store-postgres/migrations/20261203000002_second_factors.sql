-- Second factors (contract: shared/spec/mfa-and-passkeys.md).
-- One TOTP factor per user, pending until a first code confirms it. The secret is sealed by the
-- application (core's mfa::SecretBox, bound to the user id), so a copy of this table alone
-- yields no secret. `last_used_step` is the replay guard: a code of that time step or an older
-- one is refused, so a code is accepted once.
CREATE TABLE totp_factors (
    user_id        uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret  text NOT NULL,
    confirmed_at   timestamptz,
    last_used_step bigint,
    created_at     timestamptz NOT NULL
);

-- Recovery codes, only as hashes (core's mfa::recovery::hash, salted with the user id); a used
-- code keeps its row, marked, until the next set replaces them all.
CREATE TABLE recovery_codes (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  text NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Passkeys (WebAuthn credentials). A credential id names one credential of one authenticator:
-- unique across all users, so a sign-in finds its passkey, and its owner, from the id alone.
-- `credential` is webauthn-rs's Passkey as JSON (public key, signature counter), opaque here.
CREATE TABLE passkeys (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea NOT NULL,
    name          text NOT NULL,
    credential    text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    CONSTRAINT passkeys_credential_id_unique UNIQUE (credential_id)
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id, created_at);
