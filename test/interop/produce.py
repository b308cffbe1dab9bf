#!/usr/bin/python3
"""An identity-events producer written only from the contract files: the Avro schemas in
packages/events/avro/<event-type>.v<version>.avsc (with avro/index.json for the older alias names) and
the record headers of the README / AsyncAPI document. Debian's python3-confluent-kafka (librdkafka) and python3-avro, nothing of the TypeScript code.

  produce.py publish <avro-dir> <brokers> <topic> < history.json   prints the position of every event
  produce.py encode <avro-dir> < values.json                       prints each value in Avro binary (base64)

history.json: a list of {eventId, eventType, schemaVersion, instanceId, aggregateType, aggregateId,
aggregateSequence, resourceOwner, creator, createdAtMs, payload}; values.json: a list of
{eventType, schemaVersion, payload}. Payloads are JSON; Avro bytes values are base64 strings.
"""
import base64
import io
import json
import os
import sys
from datetime import datetime, timezone

import avro.io
import avro.schema
from confluent_kafka import Producer

_schemas = {}
_canonical = None


def canonical_type(avro_dir, event_type):
    """An alias (e.g. user.added) is sent as such but shares the schemas of its canonical type."""
    global _canonical
    if _canonical is None:
        with open(os.path.join(avro_dir, "index.json"), encoding="utf-8") as f:
            _canonical = {a: e["eventType"] for e in json.load(f)["events"] for a in e["aliases"]}
    return _canonical.get(event_type, event_type)


def schema_for(avro_dir, event_type, version):
    key = (canonical_type(avro_dir, event_type), version)
    if key not in _schemas:
        with open(os.path.join(avro_dir, f"{key[0]}.v{version}.avsc"), encoding="utf-8") as f:
            _schemas[key] = avro.schema.parse(f.read())
    return _schemas[key]


def to_datum(schema, value):
    """JSON value -> Avro datum: only bytes need converting (JSON has no bytes)."""
    t = schema.type
    if value is None:
        return None
    if t == "bytes":
        return base64.b64decode(value)
    if t == "record":
        return {f.name: to_datum(f.type, value.get(f.name)) for f in schema.fields}
    if t == "union":
        branch = next(s for s in schema.schemas if s.type != "null")
        return to_datum(branch, value)
    if t == "array":
        return [to_datum(schema.items, v) for v in value]
    if t == "map":
        return {k: to_datum(schema.values, v) for k, v in value.items()}
    return value


def encode(avro_dir, event_type, version, payload):
    schema = schema_for(avro_dir, event_type, version)
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(to_datum(schema, payload), avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def headers(e):
    created_at = datetime.fromtimestamp(e["createdAtMs"] / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
    pairs = [
        ("event-id", e["eventId"]),
        ("event-type", e["eventType"]),
        ("schema-version", str(e["schemaVersion"])),
        ("instance-id", e["instanceId"]),
        ("aggregate-type", e["aggregateType"]),
        ("aggregate-id", e["aggregateId"]),
        ("aggregate-sequence", str(e["aggregateSequence"])),
        ("resource-owner", e["resourceOwner"]),
        ("creator", e["creator"]),
        ("created-at", created_at),
        ("content-type", "application/avro"),
    ]
    return [(k, v.encode("utf-8")) for k, v in pairs]


def publish(avro_dir, brokers, topic, events):
    producer = Producer(
        {
            "bootstrap.servers": brokers,
            "client.id": "idp-python-interop",
            # The documented partitioner: Java's murmur2 (librdkafka's default would be CRC32).
            "partitioner": "murmur2_random",
            # Keeps each partition in send order across retries.
            "enable.idempotence": True,
            "linger.ms": 5,
        }
    )
    positions = [None] * len(events)
    errors = []

    def delivered(i):
        def cb(err, msg):
            if err is not None:
                errors.append(f"event {i}: {err}")
            else:
                positions[i] = {"topic": msg.topic(), "partition": msg.partition(), "offset": str(msg.offset())}

        return cb

    for i, e in enumerate(events):
        value = encode(avro_dir, e["eventType"], e["schemaVersion"], e["payload"])
        while True:
            try:
                producer.produce(topic, key=e["instanceId"].encode("utf-8"), value=value, headers=headers(e), on_delivery=delivered(i))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(60) != 0:
        errors.append("not every event was delivered within 60 s")
    if errors:
        sys.exit("produce.py: " + "; ".join(errors[:5]))
    json.dump(positions, sys.stdout)


def main():
    mode, avro_dir = sys.argv[1], sys.argv[2]
    items = json.load(sys.stdin)
    if mode == "encode":
        json.dump([base64.b64encode(encode(avro_dir, v["eventType"], v["schemaVersion"], v["payload"])).decode() for v in items], sys.stdout)
    elif mode == "publish":
        publish(avro_dir, sys.argv[3], sys.argv[4], items)
    else:
        sys.exit(f"produce.py: unknown mode {mode}")


if __name__ == "__main__":
    main()
