// Numeric enums of the read model (state, type) as names in the API.
import { z } from "zod";

/** The names of a numeric enum, as the non-empty tuple `z.enum` takes. */
export const enumNames = <E extends Record<string, number>>(e: E) => Object.keys(e) as [keyof E & string, ...(keyof E & string)[]];

/** The name of a stored value, or "unspecified" for a value the enum does not know. */
export const enumName = <E extends Record<string, number>>(e: E, n: unknown): string => Object.keys(e).find((k) => e[k] === n) ?? "unspecified";

/** A value of a numeric enum by our name or ZITADEL's (`active` or `USER_STATE_ACTIVE` with prefix `USER_STATE_`), parsed to its number. */
export const zitadelEnum = <E extends Record<string, number>>(e: E, prefix: string) => {
  const names = Object.keys(e);
  return z
    .enum([...names, ...names.map((n) => `${prefix}${n.toUpperCase()}`)] as [string, ...string[]])
    .transform((v) => e[v.startsWith(prefix) ? v.slice(prefix.length).toLowerCase() : v] as number);
};
