-- Removed entities (instance, org, user, project, project role…), remembered per service schema so that a
-- late "added" event from another topic (multi-topic mode) cannot bring back a removed entity's rows.
CREATE TABLE projector_tombstones (
  instance_id    text        NOT NULL,
  kind           text        NOT NULL,
  id             text        NOT NULL,
  resource_owner text        NOT NULL,
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  PRIMARY KEY (instance_id, kind, id)
);
