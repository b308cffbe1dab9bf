-- User grants read model (ZITADEL user_grants5) and the lookups it shows from other aggregates.

CREATE TABLE user_grants (
  instance_id    text        NOT NULL,
  id             text        NOT NULL, -- user grant aggregate id
  resource_owner text        NOT NULL, -- org owning the grant
  creation_date  timestamptz NOT NULL,
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  state          smallint    NOT NULL, -- 1 active, 2 inactive (removed grants are deleted)
  user_id        text        NOT NULL,
  project_id     text        NOT NULL,
  grant_id       text        NOT NULL, -- project grant id, '' for a grant on the org's own project
  roles          text[]      NOT NULL,
  PRIMARY KEY (instance_id, id)
);
CREATE INDEX user_grants_user_id_idx ON user_grants (instance_id, user_id);
CREATE INDEX user_grants_project_id_idx ON user_grants (instance_id, project_id);
CREATE INDEX user_grants_resource_owner_idx ON user_grants (instance_id, resource_owner);
CREATE INDEX user_grants_grant_id_idx ON user_grants (instance_id, grant_id) WHERE grant_id <> '';
CREATE INDEX user_grants_creation_date_idx ON user_grants (instance_id, creation_date, id);
CREATE INDEX user_grants_roles_idx ON user_grants USING gin (roles);

-- The user's org (resource_owner) and names, from the user's own events.
CREATE TABLE lookup_users (
  instance_id    text        NOT NULL,
  user_id        text        NOT NULL,
  resource_owner text        NOT NULL, -- the user's org
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  username       text        NOT NULL,
  display_name   text,
  PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX lookup_users_resource_owner_idx ON lookup_users (instance_id, resource_owner);

-- The project's org (resource_owner), from project.added.
CREATE TABLE lookup_projects (
  instance_id    text        NOT NULL,
  project_id     text        NOT NULL,
  resource_owner text        NOT NULL, -- the project's org
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  PRIMARY KEY (instance_id, project_id)
);
CREATE INDEX lookup_projects_resource_owner_idx ON lookup_projects (instance_id, resource_owner);

-- Project grants: the org the project was granted to and the roles it was granted.
CREATE TABLE lookup_project_grants (
  instance_id    text        NOT NULL,
  grant_id       text        NOT NULL,
  resource_owner text        NOT NULL, -- the project's org
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  project_id     text        NOT NULL,
  granted_org    text        NOT NULL,
  role_keys      text[]      NOT NULL,
  PRIMARY KEY (instance_id, grant_id)
);
CREATE INDEX lookup_project_grants_resource_owner_idx ON lookup_project_grants (instance_id, resource_owner);
CREATE INDEX lookup_project_grants_granted_org_idx ON lookup_project_grants (instance_id, granted_org);
CREATE INDEX lookup_project_grants_project_id_idx ON lookup_project_grants (instance_id, project_id);
