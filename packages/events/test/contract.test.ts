// The contract files (avro/*.avsc, avro/index.json, asyncapi.json) are what producers in other languages
// read: they must equal what the TypeScript definitions generate, and the AsyncAPI document must be valid.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import asyncApiSpecs from "@asyncapi/specs";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import avro from "avsc";
import { describe, expect, it } from "vitest";
import {
  ASYNCAPI_FILE,
  AVRO_DIR,
  AVRO_SCHEMA_FORMAT,
  type asyncApiDocument,
  avscFileName,
  CONTRACT_REGENERATE_COMMAND,
  contractFiles,
  recordHeadersSchema,
} from "../src/contract.ts";
import { allEvents, envelopeToHeaders, HEADER, headersToEnvelope, TRACE_CONTEXT_HEADER } from "../src/index.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const read = (path: string) => readFileSync(join(root, path), "utf8");

type Doc = ReturnType<typeof asyncApiDocument>;
interface Message {
  name: string;
  headers: { allOf: [unknown, { properties: Record<string, { const?: string; enum?: string[] }> }] };
  payload: { schemaFormat: string; schema: { $ref: string } };
  bindings: { kafka: { key: { type: string } } };
}

function validateAsyncApi(doc: unknown) {
  // The official JSON Schema of AsyncAPI 3.0.0 (bindings included); `strict: false` because it uses
  // keywords of its own that Ajv does not know.
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(asyncApiSpecs.schemasWithoutId["3.0.0"]);
  const valid = validate(doc);
  return { valid, errors: (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`) };
}

describe("contract files", () => {
  const generated = contractFiles(allEvents);

  it("are checked in exactly as the TypeScript definitions generate them", () => {
    const drifted = [...generated].filter(([path, content]) => !existsSync(join(root, path)) || read(path) !== content).map(([path]) => path);
    expect(drifted, `missing or out of date in packages/events: run \`${CONTRACT_REGENERATE_COMMAND}\``).toEqual([]);
    const stale = readdirSync(join(root, AVRO_DIR)).filter((name) => !generated.has(`${AVRO_DIR}/${name}`));
    expect(stale, `stale files in packages/events/${AVRO_DIR}: run \`${CONTRACT_REGENERATE_COMMAND}\``).toEqual([]);
  });

  it("hold one .avsc per event type and version, each a valid Avro schema equal to its definition", () => {
    const avsc = readdirSync(join(root, AVRO_DIR)).filter((n) => n.endsWith(".avsc"));
    expect(avsc).toHaveLength(allEvents.reduce((n, d) => n + d.versions.length, 0));
    for (const d of allEvents) {
      d.versions.forEach((schema, i) => {
        const onDisk = JSON.parse(read(`${AVRO_DIR}/${avscFileName(d.type, i + 1)}`));
        expect(onDisk).toEqual(schema);
        // The same writer schema byte for byte: any Avro library parsing the file writes what TypeScript reads.
        expect(avro.Type.forSchema(onDisk).equals(avro.Type.forSchema(schema as avro.Schema))).toBe(true);
      });
    }
  });

  it("index.json names every event type, its aliases and files", () => {
    const index = JSON.parse(read(`${AVRO_DIR}/index.json`)) as { events: { eventType: string; aliases: string[]; latestVersion: number; files: string[] }[] };
    expect(index.events.map((e) => e.eventType).sort()).toEqual(allEvents.map((d) => d.type).sort());
    const userAdded = index.events.find((e) => e.eventType === "user.human.added");
    expect(userAdded).toMatchObject({ aliases: ["user.added"], latestVersion: 2, files: ["user.human.added.v1.avsc", "user.human.added.v2.avsc"] });
    for (const e of index.events) for (const f of e.files) expect(existsSync(join(root, AVRO_DIR, f)), f).toBe(true);
  });
});

describe("AsyncAPI document", () => {
  const doc = JSON.parse(read(ASYNCAPI_FILE)) as Doc;
  const messages = doc.components.messages as Record<string, Message>;

  it("is valid AsyncAPI 3.0.0", () => {
    const { valid, errors } = validateAsyncApi(doc);
    expect(errors).toEqual([]);
    expect(valid).toBe(true);
  });

  it("the validator rejects a broken document (so the check above can fail)", () => {
    const broken = structuredClone(doc) as unknown as { operations: Record<string, { action: string }>; channels: Record<string, Record<string, unknown>> };
    (broken.operations.publishIdentityEvents as { action: string }).action = "publish"; // AsyncAPI 2 wording
    (broken.channels.identityEvents as Record<string, unknown>).address = 42;
    const { valid, errors } = validateAsyncApi(broken);
    expect(valid).toBe(false);
    expect(errors.join("\n")).toMatch(/operations\/publishIdentityEvents\/action/);
    expect(errors.join("\n")).toMatch(/channels\/identityEvents\/address/);
  });

  it("describes the topic, the key and every event type and version with its .avsc payload", () => {
    expect(doc.channels.identityEvents.address).toBe("identity.events");
    expect(doc.channels.identityEvents.description).toMatch(/murmur2/);
    const expected = allEvents.flatMap((d) => d.versions.map((_, i) => `${d.type}.v${i + 1}`)).sort();
    expect(Object.keys(messages).sort()).toEqual(expected);
    expect(Object.keys(doc.channels.identityEvents.messages).sort()).toEqual(expected);
    for (const op of Object.values(doc.operations)) expect(op.messages).toHaveLength(expected.length);
    for (const d of allEvents) {
      d.versions.forEach((schema, i) => {
        const m = messages[`${d.type}.v${i + 1}`] as Message;
        expect(m.name).toBe(d.type);
        expect(m.bindings.kafka.key.type).toBe("string");
        expect(m.payload.schemaFormat).toBe(AVRO_SCHEMA_FORMAT);
        const ref = m.payload.schema.$ref;
        expect(ref).toBe(`./${AVRO_DIR}/${avscFileName(d.type, i + 1)}`);
        expect(JSON.parse(read(ref))).toEqual(schema);
        const own = m.headers.allOf[1].properties;
        expect(own[HEADER.schemaVersion]?.const).toBe(String(i + 1));
        expect(own[HEADER.eventType]?.enum ?? [own[HEADER.eventType]?.const]).toEqual([d.type, ...d.aliases]);
      });
    }
  });

  it("documents every header, and exactly the ones consumers require", () => {
    expect(Object.keys(recordHeadersSchema.properties).sort()).toEqual([...Object.values(HEADER), ...Object.values(TRACE_CONTEXT_HEADER)].sort());
    const valid = envelopeToHeaders({
      eventId: "e1",
      eventType: "user.locked",
      schemaVersion: 1,
      instanceId: "i1",
      aggregateType: "user",
      aggregateId: "u1",
      aggregateSequence: 1,
      resourceOwner: "o1",
      creator: "c1",
      createdAt: new Date("2026-01-31T12:00:00.000Z"),
    });
    const required = new Set<string>(recordHeadersSchema.required);
    for (const name of Object.values(HEADER)) {
      const without = { ...valid, [name]: undefined };
      if (required.has(name)) expect(() => headersToEnvelope(without), name).toThrow(name);
      else expect(() => headersToEnvelope(without), name).not.toThrow();
    }
    // The documented id pattern is the one enforced.
    const idPattern = new RegExp(recordHeadersSchema.properties[HEADER.instanceId].pattern);
    for (const id of ["inst-1", "a.b_c@d:e", "bad id", "x;y"]) {
      expect(idPattern.test(id), id).toBe(isAccepted(valid, id));
    }
  });
});

function isAccepted(valid: Record<string, string>, instanceId: string): boolean {
  try {
    headersToEnvelope({ ...valid, [HEADER.instanceId]: instanceId });
    return true;
  } catch {
    return false;
  }
}
