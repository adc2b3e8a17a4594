-- Bumped by every change that revokes an account's sessions; a session is only inserted while
-- the account is still at the version its credentials were checked against, so a sign-in in
-- flight cannot outlive the revocation meant to end it.
ALTER TABLE users ADD COLUMN credentials_version INTEGER NOT NULL DEFAULT 0;
