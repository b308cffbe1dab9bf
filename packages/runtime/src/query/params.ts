// Query parameters shared by the services' routes, bounded at the edge so that nothing a client sends
// can fail in SQL: page size, cursor, comma-separated id lists, flags and instants.
import { idSchema } from "@idp/events";
import { z } from "zod";

/** Shared list query parameters: page size capped, cursor opaque. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(2000).optional(),
  order: z.enum(["asc", "desc"]).default("asc"),
};

/** `?ids=a,b,c`: 1 to 100 ids. */
export const idList = z
  .string()
  .max(4000)
  .transform((s) => s.split(",").filter(Boolean))
  .pipe(z.array(idSchema).min(1).max(100));

/** `true` or `false`. */
export const flag = z.enum(["true", "false"]).transform((v) => v === "true");

// What both PostgreSQL and JavaScript represent: PostgreSQL has no year 0, ISO strings end at year 9999.
const FIRST_INSTANT = Date.parse("0001-01-01T00:00:00Z");
const LAST_INSTANT = Date.parse("9999-12-31T23:59:59.999Z");

/** An RFC 3339 instant with an offset, in years 0001 to 9999 (UTC). */
export const instant = z.iso
  .datetime({ offset: true })
  .transform((v) => new Date(v))
  .refine((d) => d.getTime() >= FIRST_INSTANT && d.getTime() <= LAST_INSTANT, "must lie in the years 0001 to 9999 (UTC)");
