-- Parked events keep the record as it was on the wire: the key and every header as bytes (a header name
-- may repeat, and a value may hold a NUL or invalid UTF-8, which text and jsonb columns refuse). The
-- headers column stays the readable rendering (invalid bytes escaped). error is the first error seen;
-- last_error the latest (a replay or an operator retry that failed again). A parked event that does not
-- hold up its aggregate (an out-of-order event: the aggregate has moved past it) is not blocking.
ALTER TABLE projector_parked_events
  ADD COLUMN record_key   bytea,
  ADD COLUMN header_bytes jsonb, -- [[name, base64 value], …] in wire order; NULL for rows parked before this migration
  ADD COLUMN last_error   text,
  ADD COLUMN blocking     boolean NOT NULL DEFAULT true;

DROP INDEX projector_parked_events_open;
CREATE INDEX projector_parked_events_open ON projector_parked_events (projection, instance_id, aggregate_type, aggregate_id)
  WHERE status = 'parked' AND blocking;

-- Which event the applied sequence belongs to, and where it was read: a record at or below the applied
-- sequence is a duplicate only if it is that event again (same event id) or a position already passed;
-- missing holds the sequences skipped over (a gap), so a late event filling one is told from a copy.
ALTER TABLE projector_aggregate_sequences
  ADD COLUMN event_id text,
  ADD COLUMN topic    text,
  ADD COLUMN partition int,
  ADD COLUMN "offset" bigint,
  ADD COLUMN missing  int8multirange NOT NULL DEFAULT '{}';
