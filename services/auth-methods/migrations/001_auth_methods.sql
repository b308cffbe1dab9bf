-- User auth methods read model (ZITADEL user_auth_methods5) and whether each user has a password.

CREATE TABLE user_auth_methods (
  instance_id    text        NOT NULL,
  user_id        text        NOT NULL,
  method_type    smallint    NOT NULL, -- 1 TOTP, 2 U2F, 3 passwordless, 6 OTP SMS, 7 OTP email, 11 recovery codes
  token_id       text        NOT NULL, -- WebAuthn token id; '' for methods a user has at most once
  resource_owner text        NOT NULL, -- the user's org
  creation_date  timestamptz NOT NULL,
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  state          smallint    NOT NULL, -- 1 not ready, 2 ready (removed methods are deleted)
  name           text        NOT NULL, -- '' until a WebAuthn token is verified with a name
  domain         text,                 -- WebAuthn relying-party id
  PRIMARY KEY (instance_id, user_id, method_type, token_id)
);
CREATE INDEX user_auth_methods_resource_owner_idx ON user_auth_methods (instance_id, resource_owner);
CREATE INDEX user_auth_methods_creation_date_idx ON user_auth_methods (instance_id, creation_date);
CREATE INDEX user_auth_methods_type_idx ON user_auth_methods (instance_id, method_type);

-- Users known to this read model and whether they have a password (ZITADEL derives the "password"
-- method from the users projection; there are no secrets here, only the flag).
CREATE TABLE auth_method_users (
  instance_id    text        NOT NULL,
  user_id        text        NOT NULL,
  resource_owner text        NOT NULL,
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  password_set   boolean     NOT NULL,
  PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX auth_method_users_resource_owner_idx ON auth_method_users (instance_id, resource_owner);
