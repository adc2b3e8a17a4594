-- How the session's user signed in: the assurance level and the RFC 8176 methods (separated by
-- spaces), carried by every access token of the session and raised by a step-up.
ALTER TABLE sessions ADD COLUMN aal TEXT NOT NULL DEFAULT 'aal1';
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
