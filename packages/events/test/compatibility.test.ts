// Schema evolution under Avro's own resolution rules, on the checked-in .avsc files (what other languages
// use): each version must be readable by the previous one (forward) and read data of the previous one
// (backward), checked by resolver construction and by decoding sample values both ways.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import avro from "avsc";
import { describe, expect, it } from "vitest";
import { AVRO_DIR } from "../src/contract.ts";
import { type AvroRecord, allEvents, field, optional } from "../src/index.ts";
import { sample } from "./sample.ts";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", AVRO_DIR);
const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { events: { eventType: string; files: string[] }[] };
const schemaFile = (file: string) => JSON.parse(readFileSync(join(dir, file), "utf8")) as AvroRecord;

/** What `reader` makes of a value written with `writer`, or why it cannot read it. */
function readAs(
  reader: AvroRecord,
  writer: AvroRecord,
): { ok: true; written: Record<string, unknown>; read: Record<string, unknown> } | { ok: false; error: string } {
  const readerType = avro.Type.forSchema(reader as avro.Schema);
  const writerType = avro.Type.forSchema(writer as avro.Schema);
  const written = sample(writer) as Record<string, unknown>;
  try {
    const resolver = readerType.createResolver(writerType);
    return { ok: true, written, read: { ...readerType.fromBuffer(writerType.toBuffer(written), resolver) } };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Problems reading `prev` data with `next` (backward) and `next` data with `prev` (forward); empty when compatible. */
function compatibilityProblems(prev: AvroRecord, next: AvroRecord): string[] {
  const problems: string[] = [];
  for (const [direction, reader, writer] of [
    ["backward", next, prev],
    ["forward", prev, next],
  ] as const) {
    const r = readAs(reader, writer);
    if (!r.ok) {
      problems.push(`${direction}: ${r.error}`);
      continue;
    }
    // Fields both know keep their value; fields only the reader knows get their default.
    const writerFields = new Set(writer.fields.map((f) => f.name));
    const expected = Object.fromEntries(reader.fields.map((f) => [f.name, writerFields.has(f.name) ? r.written[f.name] : f.default]));
    try {
      expect(r.read).toEqual(expected);
    } catch (err) {
      problems.push(`${direction}: decoded value differs: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  return problems;
}

const evolved = index.events.filter((e) => e.files.length > 1);

describe("schema compatibility between consecutive versions", () => {
  it("covers every event type with more than one version", () => {
    expect(evolved.map((e) => e.eventType).sort()).toEqual(
      allEvents
        .filter((d) => d.versions.length > 1)
        .map((d) => d.type)
        .sort(),
    );
    expect(evolved.length).toBeGreaterThan(0);
  });

  it.each(evolved.flatMap((e) => e.files.slice(1).map((file, i) => [e.files[i] as string, file] as const)))(
    "%s ⇄ %s: backward and forward compatible",
    (prevFile, nextFile) => {
      expect(compatibilityProblems(schemaFile(prevFile), schemaFile(nextFile))).toEqual([]);
    },
  );

  describe("catches incompatible changes", () => {
    const record = (fields: AvroRecord["fields"]): AvroRecord => ({ type: "record", name: "T", namespace: "test", fields });
    const v1 = record([field("name", "string"), optional("nick", "string")]);

    it("an appended optional field is compatible both ways", () => {
      expect(compatibilityProblems(v1, record([...v1.fields, optional("color", "string")]))).toEqual([]);
    });

    it("an added required field breaks backward compatibility", () => {
      const problems = compatibilityProblems(v1, record([...v1.fields, field("age", "int")]));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^backward:/);
    });

    it("a removed required field breaks forward compatibility", () => {
      const problems = compatibilityProblems(v1, record([optional("nick", "string")]));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^forward:/);
    });

    it("a changed field type breaks both directions", () => {
      const problems = compatibilityProblems(v1, record([field("name", "long"), optional("nick", "string")]));
      expect(problems.map((p) => p.split(":")[0])).toEqual(["backward", "forward"]);
    });

    it("a widened type (int → long) is backward but not forward compatible", () => {
      const problems = compatibilityProblems(record([field("n", "int")]), record([field("n", "long")]));
      expect(problems.map((p) => p.split(":")[0])).toEqual(["forward"]);
    });
  });
});
