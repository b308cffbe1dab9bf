// Keyset pagination cursors: opaque to clients, validated on the way back in. A cursor is bound to the
// sort it was made for, so reusing it with another sort (or a forged one) is a clear 400.
import { z } from "zod";
import { badRequest } from "./errors.ts";

const cursorSchema = z.object({
  s: z.string().max(64), // sort key
  d: z.enum(["asc", "desc"]),
  v: z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]), // last row's sort value
  id: z.string().max(400), // last row's tie-breaker
});
export type Cursor = z.infer<typeof cursorSchema>;

export const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString("base64url");

export function decodeCursor(raw: string, expected: { s: string; d: "asc" | "desc" }): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw badRequest("cursor is malformed");
  }
  const r = cursorSchema.safeParse(parsed);
  if (!r.success) throw badRequest("cursor is malformed");
  if (r.data.s !== expected.s || r.data.d !== expected.d) {
    throw badRequest(`cursor was made for sort ${r.data.s} ${r.data.d}, not ${expected.s} ${expected.d}`);
  }
  return r.data;
}

/** Shared list query parameters: page size capped, cursor opaque. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(2000).optional(),
  order: z.enum(["asc", "desc"]).default("asc"),
};
