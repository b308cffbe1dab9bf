-- Lockout policies read model (ZITADEL lockout_policies3): the instance default (id = instance id,
-- is_default) and one row per org with its own policy (id = org id).

CREATE TABLE lockout_policies (
  instance_id           text        NOT NULL,
  id                    text        NOT NULL, -- org id, or the instance id for the default
  resource_owner        text        NOT NULL,
  creation_date         timestamptz NOT NULL,
  change_date           timestamptz NOT NULL,
  sequence              bigint      NOT NULL,
  state                 smallint    NOT NULL, -- 1 active (removed policies are deleted)
  is_default            boolean     NOT NULL DEFAULT false,
  max_password_attempts bigint      NOT NULL, -- 0: no lockout
  max_otp_attempts      bigint      NOT NULL DEFAULT 0,
  show_lockout_failures boolean     NOT NULL,
  PRIMARY KEY (instance_id, id)
);
-- The list's creation-date sort (id is the keyset tie-breaker); lookups by id use the primary key.
CREATE INDEX lockout_policies_creation_idx ON lockout_policies (instance_id, creation_date, id);
