import type { AvroSchema } from "../src/index.ts";

/** A valid sample value for a schema: every field present, so round trips exercise all of them. */
export function sample(schema: AvroSchema, name = "x"): unknown {
  if (typeof schema === "string") {
    return { null: null, boolean: true, int: 7, long: 1234567890123, double: 1.5, string: `${name}-value`, bytes: Buffer.from(name) }[schema];
  }
  if (Array.isArray(schema)) return sample(schema.find((s) => s !== "null") as AvroSchema, name);
  const s = schema as Exclude<AvroSchema, string | readonly AvroSchema[]>;
  switch (s.type) {
    case "array":
      return [sample(s.items, name), sample(s.items, `${name}2`)];
    case "map":
      return { k: sample(s.values, name) };
    case "enum":
      return s.symbols[0];
    case "record":
      return Object.fromEntries(s.fields.map((f) => [f.name, sample(f.type, f.name)]));
  }
}
