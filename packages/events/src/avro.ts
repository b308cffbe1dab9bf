// Avro schema subset used by event payloads, with a type-level mapping to TypeScript so that reducers
// get typed payloads from the very schema that is on the wire (one definition per event version).

export type AvroPrimitive = "null" | "boolean" | "int" | "long" | "double" | "string" | "bytes";
export interface AvroArray {
  readonly type: "array";
  readonly items: AvroSchema;
}
export interface AvroMap {
  readonly type: "map";
  readonly values: AvroSchema;
}
export interface AvroEnum {
  readonly type: "enum";
  readonly name: string;
  readonly symbols: readonly string[];
}
export interface AvroField {
  readonly name: string;
  readonly type: AvroSchema;
  readonly default?: unknown;
  readonly doc?: string;
}
export interface AvroRecord {
  readonly type: "record";
  readonly name: string;
  readonly namespace?: string;
  readonly doc?: string;
  readonly fields: readonly AvroField[];
}
export type AvroSchema = AvroPrimitive | AvroArray | AvroMap | AvroEnum | AvroRecord | readonly AvroSchema[];

type Nullable<U> = U extends readonly (infer M)[] ? ("null" extends M ? true : false) : false;

export type AvroValue<S> = S extends "null"
  ? null
  : S extends "boolean"
    ? boolean
    : S extends "int" | "long" | "double"
      ? number
      : S extends "string"
        ? string
        : S extends "bytes"
          ? Buffer
          : S extends { readonly type: "array"; readonly items: infer I }
            ? AvroValue<I>[]
            : S extends { readonly type: "map"; readonly values: infer V }
              ? Record<string, AvroValue<V>>
              : S extends { readonly type: "enum"; readonly symbols: readonly (infer E)[] }
                ? E
                : S extends { readonly type: "record"; readonly fields: infer F extends readonly AvroField[] }
                  ? AvroRecordValue<F>
                  : S extends readonly (infer M)[]
                    ? AvroValue<M>
                    : never;

export type AvroRecordValue<F extends readonly AvroField[]> = {
  [K in F[number] as Nullable<K["type"]> extends true ? never : K["name"]]: AvroValue<K["type"]>;
} & {
  [K in F[number] as Nullable<K["type"]> extends true ? K["name"] : never]?: AvroValue<K["type"]>;
};

/** A nullable field with default null: "absent" on the wire and in TypeScript. */
export const optional = <const N extends string, const S extends AvroSchema>(name: N, type: S) =>
  ({ name, type: ["null", type] as const, default: null }) as const;

/** A required field. */
export const field = <const N extends string, const S extends AvroSchema>(name: N, type: S) => ({ name, type }) as const;
