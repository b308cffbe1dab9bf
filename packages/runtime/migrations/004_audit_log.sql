-- Operator actions (pause, replay, rebuild, switch, rollback, parked retry/skip): who, what, outcome.
-- A rebuild switch copies this table into the new schema, so the log survives rebuilds.
CREATE TABLE projector_audit_log (
  id      bigserial   PRIMARY KEY,
  at      timestamptz NOT NULL DEFAULT now(),
  actor   text        NOT NULL,
  action  text        NOT NULL,
  params  jsonb       NOT NULL DEFAULT '{}',
  outcome jsonb       NOT NULL DEFAULT '{}'
);
