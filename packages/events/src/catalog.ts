// The event catalogue and its Avro codec: encode with any version, decode any version into the newest.
import avro from "avsc";
import { z } from "zod";
import type { AvroSchema } from "./avro.ts";
import type { EventDefinition } from "./define.ts";

export class UnknownEventTypeError extends Error {
  override readonly name = "UnknownEventTypeError";
}
export class PayloadDecodeError extends Error {
  override readonly name = "PayloadDecodeError";
}
export class PayloadValidationError extends Error {
  override readonly name = "PayloadValidationError";
  constructor(
    message: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(message);
  }
}

interface Entry {
  readonly definition: EventDefinition;
  readonly types: avro.Type[]; // index = version - 1
  readonly validator: z.ZodType;
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
      throw new PayloadValidationError(
        `invalid ${eventType} payload: ${issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`,
        issues,
      );
    }
    const v = version ?? entry.types.length;
    const type = entry.types[v - 1];
    if (!type) throw new UnknownEventTypeError(`${eventType} has no schema version ${v}`);
    return type.toBuffer(parsed.data);
  }

  /**
   * Decodes a payload written with `writerVersion` into the newest known version. A writer version newer
   * than this catalogue knows is read as a prefix: versions only append optional fields, so the fields
   * we know come first and the tail is ignored.
   */
  decode(eventType: string, writerVersion: number, buf: Buffer): Record<string, unknown> {
    const entry = this.entry(eventType);
    const reader = entry.types[entry.types.length - 1] as avro.Type;
    try {
      if (writerVersion > entry.types.length) {
        return reader.decode(buf, 0).value as Record<string, unknown>;
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

/** Derives a zod validator from an Avro schema, so each payload shape is written once. */
export function zodFromAvro(schema: AvroSchema): z.ZodType {
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
      case "string":
        return z.string();
      case "bytes":
        return z.instanceof(Buffer);
    }
  }
  if (Array.isArray(schema)) {
    const branches = schema.filter((s) => s !== "null");
    const inner =
      branches.length === 1
        ? zodFromAvro(branches[0] as AvroSchema)
        : z.union(branches.map((b) => zodFromAvro(b)) as unknown as [z.ZodType, z.ZodType]);
    // Absent and null are the same on the wire for ["null", X] fields with default null.
    return schema.includes("null") ? inner.nullish().transform((v) => v ?? null) : inner;
  }
  const s = schema as Exclude<AvroSchema, string | readonly AvroSchema[]>;
  switch (s.type) {
    case "array":
      return z.array(zodFromAvro(s.items));
    case "map":
      return z.record(z.string(), zodFromAvro(s.values));
    case "enum":
      return z.enum(s.symbols as [string, ...string[]]);
    case "record":
      return z.strictObject(Object.fromEntries(s.fields.map((f) => [f.name, zodFromAvro(f.type)])));
  }
}
