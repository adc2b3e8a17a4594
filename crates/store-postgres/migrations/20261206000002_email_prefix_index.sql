-- The admin list filters accounts by email prefix; with a million of them that must be an index
-- range, and only a text_pattern_ops index turns LIKE 'prefix%' into one under any collation.
CREATE INDEX users_email_key_pattern_idx ON users (email_key text_pattern_ops);
