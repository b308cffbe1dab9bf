-- Personal access tokens read model (ZITADEL personal_access_tokens3). No token material and no hash of
-- it: the events carry only the token id.

CREATE TABLE personal_access_tokens (
  instance_id    text        NOT NULL,
  id             text        NOT NULL, -- token id
  resource_owner text        NOT NULL, -- the user's org
  creation_date  timestamptz NOT NULL,
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  user_id        text        NOT NULL,
  expiration     timestamptz NOT NULL,
  scopes         text[],
  PRIMARY KEY (instance_id, id)
);
-- The API's filters and sorts (each with id as the keyset tie-breaker); user_id also serves the
-- user-removed cascade, resource_owner the org-removed one.
CREATE INDEX personal_access_tokens_user_idx ON personal_access_tokens (instance_id, user_id, id);
CREATE INDEX personal_access_tokens_owner_idx ON personal_access_tokens (instance_id, resource_owner, id);
CREATE INDEX personal_access_tokens_creation_idx ON personal_access_tokens (instance_id, creation_date, id);
CREATE INDEX personal_access_tokens_expiration_idx ON personal_access_tokens (instance_id, expiration, id);
