-- Email change: a `change_email` token carries the address it confirms; the account's address
-- changes only when that token is spent.
ALTER TABLE email_tokens ADD COLUMN new_email text;
ALTER TABLE email_tokens DROP CONSTRAINT email_tokens_purpose_check;
ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose_check
    CHECK (purpose IN ('verify_email', 'reset_password', 'change_email'));
