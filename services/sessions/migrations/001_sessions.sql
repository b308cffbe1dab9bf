-- Sessions read model (ZITADEL sessions8) and the user names sessions show (fed by user events).

CREATE TABLE sessions (
  instance_id                  text        NOT NULL,
  id                           text        NOT NULL,
  resource_owner               text        NOT NULL, -- the instance: sessions belong to it, not to an org
  creation_date                timestamptz NOT NULL,
  change_date                  timestamptz NOT NULL,
  sequence                     bigint      NOT NULL,
  state                        smallint    NOT NULL, -- 1 active (terminated sessions are deleted, as in ZITADEL)
  creator                      text        NOT NULL,
  user_id                      text,
  user_resource_owner          text,
  user_checked_at              timestamptz,
  password_checked_at          timestamptz,
  intent_checked_at            timestamptz,
  webauthn_checked_at          timestamptz,
  webauthn_user_verified       boolean,
  totp_checked_at              timestamptz,
  otp_sms_checked_at           timestamptz,
  otp_email_checked_at         timestamptz,
  mfa_recovery_code_checked_at timestamptz,
  metadata                     jsonb,                -- key → base64 value
  token_id                     text,                 -- id of the current token; never the token itself
  user_agent_fingerprint_id    text,
  user_agent_ip                text,
  user_agent_description       text,
  user_agent_header            jsonb,
  expiration                   timestamptz,          -- NULL: no lifetime set
  PRIMARY KEY (instance_id, id)
);
CREATE INDEX sessions_user_id_idx ON sessions (instance_id, user_id);
CREATE INDEX sessions_creation_date_idx ON sessions (instance_id, creation_date, id);
CREATE INDEX sessions_fingerprint_idx ON sessions (instance_id, user_agent_fingerprint_id);

-- Username and display name of users that sessions may show (one row per user).
CREATE TABLE session_users (
  instance_id    text        NOT NULL,
  user_id        text        NOT NULL,
  resource_owner text        NOT NULL, -- the user's org
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  username       text        NOT NULL,
  display_name   text,
  PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX session_users_resource_owner_idx ON session_users (instance_id, resource_owner);
