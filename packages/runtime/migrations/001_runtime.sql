-- Runtime bookkeeping, one set per service schema.

-- Next offset to consume per topic-partition, written in the same transaction as the read-model rows.
-- This is the source of truth for progress; Kafka group commits are only a lag hint.
CREATE TABLE projector_offsets (
  projection     text        NOT NULL,
  topic          text        NOT NULL,
  partition      int         NOT NULL,
  next_offset    bigint      NOT NULL,
  applied_events bigint      NOT NULL DEFAULT 0, -- events applied through this row (0 double applies: tests check it)
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, topic, partition)
);

-- Highest aggregate sequence applied per aggregate: a redelivered or duplicated event (producer retry,
-- replay overlap) carries a sequence at or below it and is dropped before it reaches a reducer.
CREATE TABLE projector_aggregate_sequences (
  projection     text   NOT NULL,
  instance_id    text   NOT NULL,
  aggregate_type text   NOT NULL,
  aggregate_id   text   NOT NULL,
  sequence       bigint NOT NULL,
  PRIMARY KEY (projection, instance_id, aggregate_type, aggregate_id)
);

-- Events that failed deterministically, and the later events of the same aggregate that wait behind them.
CREATE TABLE projector_parked_events (
  id                 bigserial   PRIMARY KEY,
  projection         text        NOT NULL,
  topic              text        NOT NULL,
  partition          int         NOT NULL,
  "offset"           bigint      NOT NULL,
  instance_id        text,
  aggregate_type     text,
  aggregate_id       text,
  aggregate_sequence bigint,
  event_type         text,
  headers            jsonb       NOT NULL,
  payload            bytea,
  error              text        NOT NULL,
  attempts           int         NOT NULL,
  blocked_by         bigint      REFERENCES projector_parked_events (id),
  status             text        NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'applied', 'skipped')),
  parked_at          timestamptz NOT NULL DEFAULT now(),
  resolved_at        timestamptz,
  UNIQUE (projection, topic, partition, "offset")
);
CREATE INDEX projector_parked_events_open ON projector_parked_events (projection, instance_id, aggregate_type, aggregate_id)
  WHERE status = 'parked';
