-- Users read model (ZITADEL users14 + humans + machines + notifications folded into one row per user),
-- and the inputs of login names (org domains, domain policies).

CREATE TABLE users (
  instance_id              text        NOT NULL,
  id                       text        NOT NULL,
  resource_owner           text        NOT NULL,
  creation_date            timestamptz NOT NULL,
  change_date              timestamptz NOT NULL,
  sequence                 bigint      NOT NULL,
  state                    smallint    NOT NULL, -- 1 active, 2 inactive, 4 locked, 6 initial
  type                     smallint    NOT NULL, -- 1 human, 2 machine
  username                 text        NOT NULL,
  -- human
  first_name               text,
  last_name                text,
  nick_name                text,
  display_name             text,
  preferred_language       text,
  gender                   smallint,             -- 1 female, 2 male, 3 diverse
  avatar_key               text,
  email                    text,
  is_email_verified        boolean,
  verified_email           text,                 -- last email that was verified
  phone                    text,
  is_phone_verified        boolean,
  verified_phone           text,
  password_set             boolean,
  password_change_required boolean,
  password_changed         timestamptz,
  mfa_init_skipped         timestamptz,
  -- machine
  machine_name             text,
  machine_description      text,
  access_token_type        smallint,             -- 0 bearer, 1 JWT
  has_secret               boolean,              -- the hashed secret itself is never stored here
  PRIMARY KEY (instance_id, id)
);
CREATE INDEX users_username_idx ON users (instance_id, lower(username));
CREATE INDEX users_email_idx ON users (instance_id, lower(email));
CREATE INDEX users_resource_owner_idx ON users (instance_id, resource_owner);
CREATE INDEX users_display_name_idx ON users (instance_id, lower(display_name));

-- Verified domains of an org (one row per org) and which one is primary.
CREATE TABLE org_domains (
  instance_id    text        NOT NULL,
  org_id         text        NOT NULL,
  resource_owner text        NOT NULL,
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  domains        text[]      NOT NULL,
  primary_domain text,
  PRIMARY KEY (instance_id, org_id)
);

-- Domain policy of an org (owner_id = org id) or the instance default (owner_id = instance id).
CREATE TABLE domain_policies (
  instance_id    text        NOT NULL,
  owner_id       text        NOT NULL,
  resource_owner text        NOT NULL,
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  must_be_domain boolean     NOT NULL,
  is_default     boolean     NOT NULL,
  PRIMARY KEY (instance_id, owner_id)
);

-- Login names as ZITADEL's login_names3 view computes them: with "user login must be domain" (org policy,
-- else instance default) one name per verified org domain, otherwise the bare username.
CREATE VIEW login_names WITH (security_invoker = true) AS
SELECT u.instance_id, u.id AS user_id, ln.login_name, ln.is_primary
FROM users u
LEFT JOIN domain_policies op ON op.instance_id = u.instance_id AND op.owner_id = u.resource_owner
LEFT JOIN domain_policies ip ON ip.instance_id = u.instance_id AND ip.owner_id = u.instance_id
LEFT JOIN org_domains d ON d.instance_id = u.instance_id AND d.org_id = u.resource_owner
CROSS JOIN LATERAL (
  SELECT u.username AS login_name, true AS is_primary
  WHERE NOT coalesce(op.must_be_domain, ip.must_be_domain, false)
  UNION ALL
  SELECT u.username || '@' || dom, dom IS NOT DISTINCT FROM d.primary_domain
  FROM unnest(d.domains) AS dom
  WHERE coalesce(op.must_be_domain, ip.must_be_domain, false)
) ln;
