-- RFC 8707 resource indicators: the resources a client may ask tokens for (a JSON array of
-- absolute URIs), and those an authorization named, kept with the grant's session
-- (space-separated; none: any the client is registered for).
ALTER TABLE oauth_clients ADD COLUMN resources text NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN resources text;
