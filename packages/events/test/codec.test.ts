// The wire contract: every event round-trips; older versions are read by newer consumers (Avro
// resolution) and newer versions by older consumers (appended optional fields are ignored).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AvroSchema,
  allEvents,
  catalog,
  defineEvent,
  EventCatalog,
  envelopeSchema,
  envelopeToHeaders,
  field,
  formatPosition,
  HEADER,
  headersToEnvelope,
  InvalidEnvelopeError,
  meetsEnvelopeRules,
  optional,
  PayloadDecodeError,
  PayloadValidationError,
  parsePosition,
  userHumanAdded,
} from "../src/index.ts";
import { sample } from "./sample.ts";

describe("event catalogue", () => {
  it.each(catalog.definitions().map((d) => [d.type, d] as const))("%s round-trips every version", (_type, d) => {
    d.versions.forEach((schema, i) => {
      const payload = sample(d.versions.at(-1) as AvroSchema) as Record<string, unknown>;
      const version = i + 1;
      // Writing an older version keeps only its fields; reading fills later optional fields with null.
      const known = new Set(schema.fields.map((f) => f.name));
      const written = Object.fromEntries(Object.entries(payload).filter(([k]) => known.has(k)));
      const decoded = catalog.decode(d.type, version, catalog.encode(d.type, written, version));
      for (const f of (d.versions.at(-1) as typeof schema).fields) {
        expect(decoded[f.name]).toEqual(known.has(f.name) ? payload[f.name] : null);
      }
    });
  });

  it("aliases (ZITADEL v1 names) decode with the same schema", () => {
    const p = { userName: "a", firstName: "b", lastName: "c", email: "e@x", changeRequired: false };
    expect(catalog.decode("user.added", 2, catalog.encode("user.human.added", p))).toMatchObject(p);
    expect(catalog.definition("user.added")).toBe(userHumanAdded);
  });

  it("a newer consumer reads payloads written with an older version", () => {
    const v1 = catalog.encode("user.human.added", { userName: "a", firstName: "b", lastName: "c", email: "e@x", changeRequired: true }, 1);
    expect(catalog.decode("user.human.added", 1, v1)).toMatchObject({ userName: "a", changeRequired: true, encodedHash: null });
  });

  it("an older consumer reads payloads written with a newer version it does not know", () => {
    const fields = [field("name", "string"), optional("nick", "string")] as const;
    const v1 = defineEvent({ type: "test.thing.added", aggregateType: "user", fields });
    const v2 = defineEvent({
      type: "test.thing.added",
      aggregateType: "user",
      previousVersions: [fields],
      fields: [...fields, optional("color", "string"), optional("size", "long")],
    });
    const oldConsumer = new EventCatalog([v1]);
    const newProducer = new EventCatalog([v2]);
    const buf = newProducer.encode("test.thing.added", { name: "n", nick: "k", color: "red", size: 3 });
    expect(oldConsumer.decode("test.thing.added", 2, buf)).toEqual(expect.objectContaining({ name: "n", nick: "k" }));
    expect(oldConsumer.decode("test.thing.added", 2, buf)).not.toHaveProperty("color");
  });

  it("refuses a new version that changes an existing field or adds a required one", () => {
    const fields = [field("name", "string")] as const;
    expect(() => defineEvent({ type: "t.bad", aggregateType: "user", previousVersions: [fields], fields: [field("name", "long")] })).toThrow(/differs/);
    expect(() => defineEvent({ type: "t.bad", aggregateType: "user", previousVersions: [fields], fields: [...fields, field("x", "string")] })).toThrow(
      /must be \["null"/,
    );
  });

  it("validates payloads with clear messages", () => {
    try {
      catalog.encode("user.human.added", { userName: 3, firstName: "b", lastName: "c", email: "e", changeRequired: "yes", extra: 1 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PayloadValidationError);
      const msg = (err as Error).message;
      expect(msg).toContain("userName");
      expect(msg).toContain("changeRequired");
      expect(msg).toMatch(/extra|Unrecognized/);
    }
  });

  it("reports undecodable payloads as PayloadDecodeError", () => {
    expect(() => catalog.decode("user.human.added", 2, Buffer.from([0xff, 0xff, 0xff]))).toThrow(PayloadDecodeError);
    expect(() => catalog.decode("user.human.added", 0, Buffer.alloc(0))).toThrow(PayloadDecodeError);
  });

  it("every event type is defined once and names its aggregate", () => {
    const types = allEvents.flatMap((d) => [d.type, ...d.aliases]);
    expect(new Set(types).size).toBe(types.length);
    for (const d of allEvents) expect(d.type.startsWith(d.aggregateType === "usergrant" ? "user.grant" : d.aggregateType)).toBe(true);
  });
});

describe("headers and positions", () => {
  const envelope = {
    eventId: "e1",
    eventType: "user.locked",
    schemaVersion: 1,
    instanceId: "inst-1",
    aggregateType: "user",
    aggregateId: "u1",
    aggregateSequence: 42,
    resourceOwner: "org-1",
    creator: "admin",
    createdAt: new Date("2026-05-01T12:00:00.123Z"),
  };

  it("round-trip through record headers", () => {
    const h = envelopeToHeaders(envelope);
    expect(h[HEADER.eventType]).toBe("user.locked");
    expect(headersToEnvelope(h)).toEqual(envelope);
  });

  it("reject missing or malformed headers naming the header", () => {
    const h = envelopeToHeaders(envelope);
    expect(() => headersToEnvelope({ ...h, [HEADER.aggregateSequence]: "x" })).toThrow(/aggregate-sequence/);
    expect(() => headersToEnvelope({ ...h, [HEADER.instanceId]: undefined })).toThrow(InvalidEnvelopeError);
    expect(() => headersToEnvelope({ ...h, [HEADER.instanceId]: "bad id;drop" })).toThrow(/instanceId/);
    expect(() => headersToEnvelope({ ...h, [HEADER.createdAt]: "yesterday" })).toThrow(/createdAt/);
  });

  it("the written-out envelope rules accept exactly what envelopeSchema accepts", () => {
    // Values near every bound: lengths around the limits, characters in and out of the id alphabet.
    const text = fc.oneof(
      fc.string({ maxLength: 3 }),
      fc.string({ minLength: 99, maxLength: 101 }),
      fc.string({ minLength: 199, maxLength: 201 }),
      fc.string({ unit: fc.constantFrom("a", "Z", "0", ".", "_", "@", ":", "-", " ", ";", "é", "\u0000", "😀"), maxLength: 6 }),
    );
    const int = fc.oneof(
      fc.integer({ min: -2, max: 3 }),
      fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, Number("9999999999999999"), 1.5, Number.NaN),
    );
    const date = fc.oneof(fc.date({ noInvalidDate: true }), fc.constant(new Date("yesterday")));
    const fields = { eventId: text, eventType: text, schemaVersion: int, instanceId: text, aggregateType: text };
    const more = { aggregateId: text, aggregateSequence: int, resourceOwner: text, creator: text, createdAt: date };
    const oneField = fc.oneof(...Object.entries({ ...fields, ...more }).map(([name, value]) => (value as fc.Arbitrary<unknown>).map((v) => ({ [name]: v }))));
    // A valid envelope with one to three fields replaced, so that each rule decides on its own.
    const envelopeLike = fc.array(oneField, { minLength: 1, maxLength: 3 }).map((parts) => Object.assign({ ...envelope }, ...parts) as typeof envelope);
    fc.assert(
      fc.property(envelopeLike, (e) => {
        expect(meetsEnvelopeRules(e)).toBe(envelopeSchema.safeParse(e).success);
      }),
      { numRuns: 5000 },
    );
    expect(meetsEnvelopeRules(envelope)).toBe(true);
  });

  it("position tokens round-trip and malformed ones are rejected", () => {
    const p = { topic: "identity.events", partition: 3, offset: "12345678901234567" };
    expect(parsePosition(formatPosition(p))).toEqual(p);
    for (const bad of ["", "t:1", "t:x:1", "t:1:-1", "a b:1:1", "t:1:1:1"]) expect(parsePosition(bad)).toBeUndefined();
  });
});
