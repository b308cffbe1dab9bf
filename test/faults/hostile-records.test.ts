// Fault: a careless or hostile producer. Records written with a plain kafkajs producer (no SDK) break
// the wire contract in every way we know: NUL and invalid UTF-8 in each header, missing and repeated
// headers, no key, a key other than the instance id, a foreign content-type, unknown versions, truncated
// and garbage Avro, a value near the broker's size limit, producer headers named like properties every
// object has (toString, constructor, __proto__). All go to one partition, each followed by a
// good event of another tenant. Each must end as a parked row that says what is wrong (or, for an event
// type nobody reads, be skipped as the contract says), on first sight: no batch retried, the partition
// flowing, every good event applied. Then a replay over the same records: nothing applied twice, first
// errors kept, attempts counted, no event waiting behind itself, and the real `from` in the answer.
import { AVRO_CONTENT_TYPE, catalog, envelopeToHeaders, HEADER, userHumanAdded, userUsernameChanged } from "@idp/events";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { adminCall } from "../support/admin.ts";
import { kafkaBrokers } from "../support/env.ts";
import { createTopic, startTestService, type TestService } from "../support/service.ts";
import { within } from "./fault-support.ts";

let t: TestService;
const kafka = new Kafka({ brokers: kafkaBrokers(), clientId: "hostile-producer", logLevel: logLevel.NOTHING });
const producer = kafka.producer({ allowAutoTopicCreation: false });

beforeAll(async () => {
  t = await startTestService(usersService, { topic: await createTopic("hostile", 1) });
  await producer.connect();
});
afterAll(async () => {
  await producer.disconnect().catch(() => {});
  await within(t?.close() ?? Promise.resolve(), 30_000, "service stop").catch((err) => console.error(err));
});

type Headers = Record<string, Buffer | string | (Buffer | string)[]>;
interface Raw {
  key: Buffer | string | null;
  value: Buffer | null;
  headers: Headers;
}
interface Case {
  name: string;
  record: Raw;
  /** The parked row's error; undefined: the record is not parked (applied or skipped by the contract). */
  error: RegExp | undefined;
}

const human = (userName: string) => ({ userName, firstName: "H", lastName: "R", email: `${userName}@x.example`, changeRequired: false });

/** A well-formed user.human.added of its own aggregate, as a producer in another language would write it. */
function valid(instanceId: string, userId: string, sequence = 1): Raw {
  const headers = envelopeToHeaders({
    eventId: `${instanceId}-${userId}-${sequence}`,
    eventType: userHumanAdded.type,
    schemaVersion: catalog.latestVersion(userHumanAdded.type),
    instanceId,
    aggregateType: "user",
    aggregateId: userId,
    aggregateSequence: sequence,
    resourceOwner: "org-1",
    creator: "c",
    createdAt: new Date("2026-03-01T10:00:00Z"),
  });
  return { key: instanceId, value: catalog.encode(userHumanAdded.type, human(`${userId}-name`)), headers };
}

const NUL = (s: string) => `${s}\u0000x`;
const BAD_UTF8 = (s: string) => Buffer.concat([Buffer.from(s), Buffer.from([0xc3, 0x28, 0xff])]);
const without = (h: Headers, name: string) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== name));
const cases: Case[] = [];
const add = (name: string, make: (r: Raw, instanceId: string) => Raw, error: RegExp | undefined) => {
  const instanceId = `hx-${cases.length}`;
  cases.push({ name, record: make(valid(instanceId, "u"), instanceId), error });
};

for (const name of Object.values(HEADER)) {
  add(`NUL in ${name}`, (r) => ({ ...r, headers: { ...r.headers, [name]: NUL(String(r.headers[name])) } }), new RegExp(`header ${name} contains a NUL byte`));
  add(
    `invalid UTF-8 in ${name}`,
    (r) => ({ ...r, headers: { ...r.headers, [name]: BAD_UTF8(String(r.headers[name])) } }),
    new RegExp(`header ${name} is not valid UTF-8`),
  );
  add(
    `${name} twice`,
    (r) => ({ ...r, headers: { ...r.headers, [name]: [String(r.headers[name]), String(r.headers[name])] } }),
    new RegExp(`header ${name} appears more than once`),
  );
  const optional = name === HEADER.creator || name === HEADER.contentType;
  add(`no ${name}`, (r) => ({ ...r, headers: without(r.headers, name) }), optional ? undefined : new RegExp(`missing header ${name}`));
}
// The reported case: the park INSERT itself used to fail on the NUL, and the partition retried forever.
add(
  "the reported instance-id t1\\0x",
  (r) => ({ ...r, key: "t1\u0000x", headers: { ...r.headers, [HEADER.instanceId]: "t1\u0000x" } }),
  /header instance-id contains a NUL byte/,
);
add("no key", (r) => ({ ...r, key: null }), /contract violation: the record has no key/);
add("NUL in the key", (r, i) => ({ ...r, key: NUL(i) }), /contract violation: the key contains a NUL byte/);
add("key is not the instance id", (r, i) => ({ ...r, key: `${i}-other` }), /contract violation: key "hx-\d+-other" differs from instance-id "hx-\d+"/);
add(
  "content-type json",
  (r) => ({ ...r, headers: { ...r.headers, [HEADER.contentType]: "application/json" } }),
  /content-type "application\/json" is not application\/avro/,
);
add("an event type nobody reads", (r) => ({ ...r, headers: { ...r.headers, [HEADER.eventType]: "user.human.frobnicated" } }), undefined);
add("schema version 0", (r) => ({ ...r, headers: { ...r.headers, [HEADER.schemaVersion]: "0" } }), /invalid header schemaVersion/);
add("schema version not a number", (r) => ({ ...r, headers: { ...r.headers, [HEADER.schemaVersion]: "v2" } }), /header schema-version is not an integer/);
// A newer writer version is read as a prefix (versions only append optional fields): applied.
add("a schema version from the future", (r) => ({ ...r, headers: { ...r.headers, [HEADER.schemaVersion]: "99" } }), undefined);
add(
  "a future version, truncated",
  (r) => ({ ...r, value: Buffer.from([0x02]), headers: { ...r.headers, [HEADER.schemaVersion]: "99" } }),
  /the value is truncated/,
);
add("truncated Avro", (r) => ({ ...r, value: (r.value as Buffer).subarray(0, 5) }), /user\.human\.added v\d/);
add("garbage Avro", (r) => ({ ...r, value: Buffer.from("this is not avro at all, just text") }), /user\.human\.added v\d/);
add("no value", (r) => ({ ...r, value: null }), /the record has no value/);
add(
  "NUL inside a payload string",
  (r) => ({ ...r, value: catalog.encode(userHumanAdded.type, human("nul\u0000name")) }),
  /payload field userName contains a NUL/,
);
// A producer's own headers are opaque, whatever their names: kafkajs' decoder took a name that every
// object has ("toString", "constructor") for a repeat, and the batch failed in the adapter, forever.
for (const name of ["toString", "constructor", "__proto__"]) {
  add(`a producer header named ${name}`, (r) => ({ ...r, headers: { ...r.headers, [name]: "opaque" } }), undefined);
}
add("a value near the broker's limit", (r) => ({ ...r, value: Buffer.alloc(900 * 1024, 0xfe) }), /user\.human\.added v\d/);

const toMessage = (r: Raw) => ({ key: r.key, value: r.value, headers: r.headers });
const applied = async () => Number((await t.svc.pool.query("SELECT coalesce(sum(applied_events), 0)::int AS n FROM projector_offsets")).rows[0].n);
const parkedRows = async () =>
  (
    await t.svc.pool.query(
      `SELECT id::int, "offset"::int, instance_id, error, last_error, attempts, blocked_by::int, status FROM projector_parked_events ORDER BY id`,
    )
  ).rows;

async function waitForEnd(timeoutMs = 60_000) {
  const admin = kafka.admin();
  await admin.connect();
  const high = (await admin.fetchTopicOffsets(t.topic))[0]?.high ?? "";
  await admin.disconnect();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await t.svc.pool.query("SELECT next_offset::text AS next FROM projector_offsets WHERE projection = 'users' AND partition = 0");
    if (rows[0]?.next === high) return high;
    if (Date.now() > deadline) throw new Error(`partition stuck at ${rows[0]?.next}, end ${high}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let end: string;
let firstParked: Awaited<ReturnType<typeof parkedRows>>;

it("every hostile record parks on first sight with a clear error; the partition and the other tenants flow", async () => {
  // One aggregate whose first event is garbage: its next event waits behind it.
  const blocked = valid("hw", "u");
  blocked.value = Buffer.from([0xff, 0xff]);
  const behind = valid("hw", "u", 2);
  behind.headers[HEADER.eventType] = userUsernameChanged.type;
  behind.value = catalog.encode(userUsernameChanged.type, { userName: "after" });

  const messages = cases.flatMap((c, i) => [toMessage(c.record), toMessage(valid(`hg-${i}`, "good"))]);
  messages.push(toMessage(blocked), toMessage(behind), toMessage(valid("hg-last", "good")));
  // One send per record, in order (the large one alone stays under the broker's limit): offset 2i is case i.
  for (const m of messages) await producer.send({ topic: t.topic, acks: -1, messages: [m] });
  end = await waitForEnd();

  // Every good event applied: each tenant's user is there.
  const good = (await t.svc.pool.query("SELECT instance_id FROM users WHERE id = 'good' ORDER BY instance_id")).rows.map((r) => r.instance_id);
  expect(good).toHaveLength(cases.length + 1);

  const rows = await parkedRows();
  const summary: string[] = [];
  for (const [i, c] of cases.entries()) {
    const row = rows.find((r) => r.offset === 2 * i);
    if (c.error === undefined) {
      expect(row, c.name).toBeUndefined();
    } else {
      expect(row, c.name).toBeDefined();
      expect(row.error, c.name).toMatch(c.error);
      expect(row.attempts, c.name).toBe(1);
    }
    summary.push(`${c.name}: ${row ? row.error : "not parked"}`);
  }
  console.log(`HOSTILE records=${messages.length} parked=${rows.length}\n  ${summary.join("\n  ")}`);
  // The ones that are fine by the contract went where they should.
  const users = (await t.svc.pool.query("SELECT instance_id FROM users WHERE id = 'u' ORDER BY instance_id")).rows.map((r) => r.instance_id);
  const expectedApplied = cases.flatMap((c, i) => (c.error === undefined && c.name !== "an event type nobody reads" ? [`hx-${i}`] : [])).sort();
  expect(users).toEqual(expectedApplied);

  const hw = rows.filter((r) => r.instance_id === "hw");
  expect(hw).toEqual([
    expect.objectContaining({ error: expect.stringMatching(/user\.human\.added v\d/), blocked_by: null }),
    expect.objectContaining({ error: `waiting behind parked event #${hw[0]?.id} of the same aggregate`, blocked_by: hw[0]?.id }),
  ]);
  // Deterministic failures never retried a batch: no backoff held the partition.
  const retries = (await t.svc.metrics.batchRetries.get()).values.reduce((n, v) => n + v.value, 0);
  expect(retries).toBe(0);

  // The parked row keeps the record's bytes exactly, with a readable rendering beside them.
  const nulRow = rows.find((r) => String(r.instance_id).startsWith("t1"));
  const { json } = await adminCall(t.url, "GET", `/parked/${nulRow.id}`);
  expect(json.headers[HEADER.instanceId]).toBe("t1\\x00x");
  const raw = (await t.svc.pool.query("SELECT record_key, header_bytes FROM projector_parked_events WHERE id = $1", [nulRow.id])).rows[0];
  expect(raw.record_key).toEqual(Buffer.from("t1\u0000x"));
  const instanceHeader = (raw.header_bytes as [string, string][]).find(([n]) => n === HEADER.instanceId);
  expect(Buffer.from(instanceHeader?.[1] ?? "", "base64")).toEqual(Buffer.from("t1\u0000x"));
  const utf8Row = rows.find((r) => r.error.includes(`header ${HEADER.aggregateId} is not valid UTF-8`));
  const utf8 = (await t.svc.pool.query("SELECT header_bytes, headers FROM projector_parked_events WHERE id = $1", [utf8Row.id])).rows[0];
  const aggHeader = (utf8.header_bytes as [string, string][]).find(([n]) => n === HEADER.aggregateId);
  expect(Buffer.from(aggHeader?.[1] ?? "", "base64")).toEqual(BAD_UTF8("u"));
  expect(utf8.headers[HEADER.aggregateId]).toBe("u\\xc3(\\xff");
  expect(AVRO_CONTENT_TYPE).toBe("application/avro");
  firstParked = rows;
});

it("a replay over the same records: nothing applied twice, first errors kept, attempts counted, real from/to", async () => {
  const before = await applied();
  const res = await adminCall(t.url, "POST", "/replay", { offset: "0" });
  expect(res.status).toBe(200);
  expect(res.json.moved).toEqual([{ topic: t.topic, partition: 0, from: end, to: "0" }]);
  const audit = await adminCall(t.url, "GET", "/audit?limit=5");
  expect(audit.json.result.find((a: { action: string }) => a.action === "replay")?.outcome).toEqual({
    moved: [{ topic: t.topic, partition: 0, from: end, to: "0" }],
  });

  await waitForEnd();
  expect(await applied()).toBe(before);
  const rows = await parkedRows();
  expect(rows.map((r) => r.id)).toEqual(firstParked.map((r) => r.id));
  for (const [i, r] of rows.entries()) {
    const was = firstParked[i];
    expect(r.error, r.instance_id).toBe(was.error); // the first error is kept
    expect(r.blocked_by, r.instance_id).not.toBe(r.id); // never waiting behind itself
    expect(r.blocked_by, r.instance_id).toBe(was.blocked_by);
    // Seen and failed again: one more attempt; an event only waiting behind another made none.
    expect(r.attempts, r.instance_id).toBe(was.attempts === 0 ? 0 : was.attempts + 1);
    if (was.attempts > 0) expect(r.last_error, r.instance_id).toBe(was.error);
  }
});
