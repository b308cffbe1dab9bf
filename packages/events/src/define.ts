import type { AvroField, AvroRecord, AvroRecordValue } from "./avro.ts";

export const AVRO_NAMESPACE = "idp.events";

/** Aggregate types as ZITADEL names them (the `aggregate-type` header). */
export type AggregateType = "user" | "org" | "instance" | "session" | "usergrant" | "project";

/**
 * One event type of the wire contract. `versions[i]` is the Avro schema of version i+1; every newer
 * version may only APPEND optional fields (see README "Schema evolution"), so any version can be read
 * as any other: by Avro resolution when the writer version is known, by prefix when it is newer.
 */
export interface EventDefinition<T extends string = string, F extends readonly AvroField[] = readonly AvroField[]> {
  readonly type: T;
  /** Older (ZITADEL v1) names carrying the same payload, e.g. `user.added` for `user.human.added`. */
  readonly aliases: readonly string[];
  readonly aggregateType: AggregateType;
  readonly versions: readonly AvroRecord[];
  /** Phantom: the latest version's fields, for typing payloads. */
  readonly __fields?: F;
}

export type PayloadOf<D> = D extends EventDefinition<string, infer F> ? AvroRecordValue<F> : never;

const recordName = (type: string) =>
  type
    .split(/[.]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");

export function defineEvent<const T extends string, const F extends readonly AvroField[]>(spec: {
  type: T;
  aggregateType: AggregateType;
  fields: F;
  /** Field lists of earlier versions, oldest first; the current `fields` is the newest version. */
  previousVersions?: readonly (readonly AvroField[])[];
  aliases?: readonly string[];
  doc?: string;
}): EventDefinition<T, F> {
  const name = recordName(spec.type);
  const all = [...(spec.previousVersions ?? []), spec.fields];
  all.forEach((fields, i) => {
    const prev = all[i - 1];
    if (!prev) return;
    // Enforce the append-only rule at definition time: old fields unchanged, new ones nullable.
    prev.forEach((f, j) => {
      if (JSON.stringify(fields[j]) !== JSON.stringify(f)) {
        throw new Error(`${spec.type} v${i + 1}: field #${j} (${f.name}) differs from v${i}`);
      }
    });
    for (const f of fields.slice(prev.length)) {
      if (!Array.isArray(f.type) || f.type[0] !== "null" || f.default !== null) {
        throw new Error(`${spec.type} v${i + 1}: added field ${f.name} must be ["null", …] with default null`);
      }
    }
  });
  return {
    type: spec.type,
    aliases: spec.aliases ?? [],
    aggregateType: spec.aggregateType,
    versions: all.map((fields) => ({
      type: "record",
      name,
      namespace: AVRO_NAMESPACE,
      ...(spec.doc ? { doc: spec.doc } : {}),
      fields,
    })),
  };
}
