-- Stored positions belong to one log. Next to each partition's offset the projector keeps the Kafka
-- cluster it was read from and a fingerprint of one record (the anchor: the first record applied there):
-- a broker whose data was reset, a re-created topic or another cluster shows up as a mismatch instead
-- of new records being skipped as "already applied". log_mismatch holds the reason while the partition
-- is stopped, so every process (and idp-admin status) can report it.
ALTER TABLE projector_offsets
  ADD COLUMN cluster_id   text,
  ADD COLUMN check_offset bigint,
  ADD COLUMN check_hash   text,
  ADD COLUMN log_mismatch text;

-- Which partition(s) each instance's events arrived on, learned from the log in the batch's transaction:
-- positions, per-instance lag and single-instance rebuilds use it instead of assuming the producer's
-- partitioner.
CREATE TABLE projector_instance_partitions (
  projection  text        NOT NULL,
  instance_id text        NOT NULL,
  topic       text        NOT NULL,
  partition   int         NOT NULL,
  first_seen  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, instance_id, topic, partition)
);
-- Read-your-writes positions are computed by the query API (instance ids and partition numbers only).
GRANT SELECT ON projector_instance_partitions TO idp_query;
