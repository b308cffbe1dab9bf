// The event catalogue and its Avro codec: encode with any version, decode any version into the newest.
import avro from "avsc";
import { z } from "zod";
import type { AvroSchema } from "./avro.ts";
import type { EventDefinition } from "./define.ts";
import { limitOf, limitViolation, MAX_ITEMS } from "./limits.ts";

export class UnknownEventTypeError extends Error {
  override readonly name = "UnknownEventTypeError";
}
export class PayloadDecodeError extends Error {
  override readonly name = "PayloadDecodeError";
}
export class PayloadValidationError extends Error {
  override readonly name = "PayloadValidationError";
  readonly issues: { path: string; message: string }[];

  constructor(message: string, issues: { path: string; message: string }[]) {
    super(message);
    this.issues = issues;
  }
}

interface Entry {
  readonly definition: EventDefinition;
  readonly types: avro.Type[]; // index = version - 1
  readonly validator: z.ZodType;
  /** The field limits, checked on decoded payloads (undefined: the event has no bounded field). */
  readonly limits: Check | undefined;
}

export class EventCatalog {
  private readonly byType = new Map<string, Entry>();
  private readonly resolvers = new Map<string, avro.Resolver>();

  constructor(definitions: readonly EventDefinition[]) {
    for (const definition of definitions) {
      const entry: Entry = {
        definition,
        types: definition.versions.map((v) => avro.Type.forSchema(v as avro.Schema)),
        validator: zodFromAvro(definition.versions.at(-1) as AvroSchema),
        limits: limitChecker(definition.versions.at(-1) as AvroSchema),
      };
      for (const name of [definition.type, ...definition.aliases]) {
        if (this.byType.has(name)) throw new Error(`event type ${name} is defined twice`);
        this.byType.set(name, entry);
      }
    }
  }

  has(eventType: string): boolean {
    return this.byType.has(eventType);
  }

  definition(eventType: string): EventDefinition {
    return this.entry(eventType).definition;
  }

  definitions(): EventDefinition[] {
    return [...new Set([...this.byType.values()].map((e) => e.definition))];
  }

  latestVersion(eventType: string): number {
    return this.entry(eventType).types.length;
  }

  /** Validates with zod (clear messages for producers), then encodes with the given or newest version. */
  encode(eventType: string, payload: unknown, version?: number): Buffer {
    const entry = this.entry(eventType);
    const parsed = entry.validator.safeParse(payload);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
      throw new PayloadValidationError(`invalid ${eventType} payload: ${summary(issues.map((i) => `${i.path || "(root)"}: ${i.message}`))}`, issues);
    }
    const v = version ?? entry.types.length;
    const type = entry.types[v - 1];
    if (!type) throw new UnknownEventTypeError(`${eventType} has no schema version ${v}`);
    return type.toBuffer(parsed.data);
  }

  /**
   * Decodes a payload written with `writerVersion` into the newest known version, and checks the field
   * limits (a producer that bypassed the SDK may have written values the read models cannot store: they
   * fail here, deterministically, with the field and the limit, instead of in PostgreSQL). A writer
   * version newer than this catalogue knows is read as a prefix: versions only append optional fields,
   * so the fields we know come first and the tail is ignored.
   */
  decode(eventType: string, writerVersion: number, buf: Buffer): Record<string, unknown> {
    const entry = this.entry(eventType);
    const payload = this.decodeAvro(entry, eventType, writerVersion, buf);
    if (entry.limits) {
      const issues: Issue[] = [];
      entry.limits(payload, "", issues);
      if (issues.length) {
        throw new PayloadValidationError(`${eventType} payload exceeds the contract's limits: ${summary(issues.map((i) => `${i.path} ${i.message}`))}`, issues);
      }
    }
    return payload;
  }

  private decodeAvro(entry: Entry, eventType: string, writerVersion: number, buf: Buffer): Record<string, unknown> {
    const reader = entry.types[entry.types.length - 1] as avro.Type;
    try {
      if (writerVersion > entry.types.length) {
        // decode() does not throw on a short buffer: it answers offset -1 and no value.
        const { value, offset } = reader.decode(buf, 0);
        if (offset < 0) throw new PayloadDecodeError(`${eventType} v${writerVersion}: the value is truncated`);
        return value as Record<string, unknown>;
      }
      const writer = entry.types[writerVersion - 1];
      if (!writer) throw new PayloadDecodeError(`${eventType}: unsupported schema version ${writerVersion}`);
      if (writer === reader) return reader.fromBuffer(buf) as Record<string, unknown>;
      const key = `${entry.definition.type}@${writerVersion}`;
      let resolver = this.resolvers.get(key);
      if (!resolver) {
        resolver = reader.createResolver(writer);
        this.resolvers.set(key, resolver);
      }
      return reader.fromBuffer(buf, resolver) as Record<string, unknown>;
    } catch (err) {
      if (err instanceof PayloadDecodeError) throw err;
      throw new PayloadDecodeError(`${eventType} v${writerVersion}: ${(err as Error).message}`);
    }
  }

  private entry(eventType: string): Entry {
    const entry = this.byType.get(eventType);
    if (!entry) throw new UnknownEventTypeError(`unknown event type ${eventType}`);
    return entry;
  }
}

/**
 * Derives a zod validator from an Avro schema, so each payload shape is written once; strings, arrays
 * and maps get the field limits of the field they belong to (`field`).
 */
export function zodFromAvro(schema: AvroSchema, field?: string): z.ZodType {
  if (typeof schema === "string") {
    switch (schema) {
      case "null":
        return z.null();
      case "boolean":
        return z.boolean();
      case "int":
        return z.number().int().min(-2147483648).max(2147483647);
      case "long":
        return z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
      case "double":
        return z.number();
      case "string": {
        const limit = limitOf(field);
        return limit.min === undefined ? z.string().max(limit.max) : z.string().min(limit.min).max(limit.max);
      }
      case "bytes":
        return z.instanceof(Buffer);
    }
  }
  if (Array.isArray(schema)) {
    const branches = schema.filter((s) => s !== "null");
    const inner =
      branches.length === 1
        ? zodFromAvro(branches[0] as AvroSchema, field)
        : z.union(branches.map((b) => zodFromAvro(b, field)) as unknown as [z.ZodType, z.ZodType]);
    // Absent and null are the same on the wire for ["null", X] fields with default null.
    return schema.includes("null") ? inner.nullish().transform((v) => v ?? null) : inner;
  }
  const s = schema as Exclude<AvroSchema, string | readonly AvroSchema[]>;
  switch (s.type) {
    case "array":
      return z.array(zodFromAvro(s.items, field)).max(MAX_ITEMS);
    case "map":
      return z
        .record(z.string().max(limitOf(undefined).max), zodFromAvro(s.values, field))
        .refine((m) => Object.keys(m).length <= MAX_ITEMS, `at most ${MAX_ITEMS} entries are allowed`);
    case "enum":
      return z.enum(s.symbols as [string, ...string[]]);
    case "record":
      return z.strictObject(Object.fromEntries(s.fields.map((f) => [f.name, zodFromAvro(f.type, f.name)])));
  }
}

/** The first issues of a list, for a message that stays readable (all of them are in `issues`). */
const summary = (lines: string[]) => (lines.length > 5 ? `${lines.slice(0, 5).join("; ")}; and ${lines.length - 5} more` : lines.join("; "));

interface Issue {
  path: string;
  message: string;
}
type Check = (value: unknown, path: string, issues: Issue[]) => void;

/** The field limits of a schema as a check of decoded values; undefined where nothing is bounded. */
function limitChecker(schema: AvroSchema, field?: string): Check | undefined {
  if (typeof schema === "string") {
    if (schema !== "string") return undefined;
    const limit = limitOf(field);
    return (v, path, issues) => {
      const why = typeof v === "string" ? limitViolation(v, limit) : undefined;
      if (why) issues.push({ path, message: why });
    };
  }
  if (Array.isArray(schema)) {
    // Decoded unions are plain values: a check of the branches' strings covers them; null passes.
    const checks = schema.map((b) => limitChecker(b, field)).filter((c): c is Check => c !== undefined);
    if (!checks.length) return undefined;
    return (v, path, issues) => {
      if (v !== null && v !== undefined) for (const c of checks) c(v, path, issues);
    };
  }
  const s = schema as Exclude<AvroSchema, string | readonly AvroSchema[]>;
  const count = (n: number, path: string, issues: Issue[]) => {
    if (n > MAX_ITEMS) issues.push({ path, message: `has ${n} elements; at most ${MAX_ITEMS} are allowed` });
  };
  switch (s.type) {
    case "array": {
      const item = limitChecker(s.items, field);
      return (v, path, issues) => {
        if (!Array.isArray(v)) return;
        count(v.length, path, issues);
        if (item) v.forEach((x, i) => void item(x, `${path}[${i}]`, issues));
      };
    }
    case "map": {
      const value = limitChecker(s.values, field);
      return (v, path, issues) => {
        if (typeof v !== "object" || v === null) return;
        const entries = Object.entries(v);
        count(entries.length, path, issues);
        if (value) for (const [k, x] of entries) value(x, `${path}.${k.slice(0, 50)}`, issues);
      };
    }
    case "record": {
      const fields = s.fields.flatMap((f) => {
        const c = limitChecker(f.type, f.name);
        return c ? [{ name: f.name, check: c }] : [];
      });
      if (!fields.length) return undefined;
      return (v, path, issues) => {
        const r = v as Record<string, unknown>;
        for (const f of fields) f.check(r[f.name], path ? `${path}.${f.name}` : f.name, issues);
      };
    }
    default:
      return undefined;
  }
}
