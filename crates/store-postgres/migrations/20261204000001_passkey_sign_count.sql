-- The signature counter of the last accepted assertion, beside the credential JSON that also
-- holds it, so recording a use is a compare-and-set on one column.
ALTER TABLE passkeys ADD COLUMN sign_count BIGINT NOT NULL DEFAULT 0;
