// Keyset pagination cursors: opaque to clients and authenticated. A cursor is `<payload>.<mac>`: the
// payload (base64url JSON) holds the list, sort, order and the last row's key; the HMAC-SHA256 covers the
// payload AND the tenant (instance, org of an org-restricted token) and the filters of the query that
// produced it, which the cursor does not carry. Any other use, or any change, is a 400 invalid_cursor.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { z } from "zod";
import type { Tenant } from "../http/auth.ts";
import { ApiError } from "../http/errors.ts";

export const invalidCursor = (message: string) => new ApiError(400, "invalid_cursor", message);

/** What a cursor is valid for. */
export interface CursorContext {
  list: string;
  sort: string;
  order: "asc" | "desc";
  tenant: Pick<Tenant, "instanceId" | "orgId">;
  /** The query's parameters; all but the page ones (cursor, limit, sort, order) are filters. */
  query: Readonly<Record<string, unknown>>;
}

const payloadSchema = z.strictObject({
  l: z.string().max(64),
  s: z.string().max(64),
  d: z.enum(["asc", "desc"]),
  k: z.array(z.string().max(1000)).min(1).max(8), // the last row's key: sort value, then tie-breakers
});

const PAGE_PARAMS = new Set(["cursor", "limit", "sort", "order"]);
const SHAPE = /^([A-Za-z0-9_-]{1,2000})\.([A-Za-z0-9_-]{43})$/; // 43 characters: 32 bytes of HMAC-SHA256

/** The filters in a canonical form: given parameters only, sorted by name (dates as ISO strings). */
function filterText(query: CursorContext["query"]): string {
  const names = Object.keys(query).filter((k) => !PAGE_PARAMS.has(k) && query[k] !== undefined);
  return JSON.stringify(names.sort().map((k) => [k, query[k]]));
}

const macInput = (ctx: CursorContext, payload: string) =>
  JSON.stringify(["idp-cursor/1", ctx.tenant.instanceId, ctx.tenant.orgId ?? null, filterText(ctx.query), payload]);

/** The signing keys: the first signs, every one verifies (add a new key first, drop the old one later). */
export class CursorKeys {
  readonly #secrets: readonly Buffer[];

  constructor(secrets: readonly (string | Buffer)[]) {
    if (secrets.length === 0) throw new Error("CursorKeys: at least one secret");
    this.#secrets = secrets.map((s) => (typeof s === "string" ? Buffer.from(s, "utf8") : s));
  }

  #mac(secret: Buffer, data: string): Buffer {
    return Buffer.from(createHmac("sha256", secret).update(data).digest("base64url"));
  }

  sign(data: string): string {
    return this.#mac(this.#secrets[0] as Buffer, data).toString();
  }

  verify(data: string, mac: string): boolean {
    const given = Buffer.from(mac);
    // Every key is tried, so the time taken does not tell which one matched.
    return this.#secrets.map((s) => timingSafeEqual(this.#mac(s, data), given)).includes(true);
  }
}

let processKeys: CursorKeys | undefined;

/**
 * The keys of CURSOR_KEYS. Without any, one random key for the whole process, with a warning (once):
 * its cursors die with the process and are refused by other replicas.
 */
export function cursorKeys(secrets: readonly string[], log?: Pick<FastifyBaseLogger, "warn">): CursorKeys {
  if (secrets.length) return new CursorKeys(secrets);
  if (!processKeys) {
    processKeys = new CursorKeys([randomBytes(32)]);
    log?.warn("CURSOR_KEYS is not set: cursors are signed with a random key of this process; they will not survive a restart or work across replicas");
  }
  return processKeys;
}

export function encodeCursor(keys: CursorKeys, ctx: CursorContext, key: readonly string[]): string {
  const payload = Buffer.from(JSON.stringify({ l: ctx.list, s: ctx.sort, d: ctx.order, k: key })).toString("base64url");
  return `${payload}.${keys.sign(macInput(ctx, payload))}`;
}

/** The key a cursor carries, as strings (their kinds are the caller's to check), or a 400 invalid_cursor. */
export function decodeCursor(keys: CursorKeys, raw: string, ctx: CursorContext): string[] {
  const m = SHAPE.exec(raw);
  if (!m) throw invalidCursor("cursor is malformed");
  const [, payload = "", mac = ""] = m;
  if (!keys.verify(macInput(ctx, payload), mac)) {
    throw invalidCursor("cursor is not valid for this query: it was altered, or made for another tenant, list or filters");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    throw invalidCursor("cursor is malformed");
  }
  const r = payloadSchema.safeParse(parsed);
  if (!r.success || r.data.l !== ctx.list) throw invalidCursor("cursor is malformed");
  if (r.data.s !== ctx.sort || r.data.d !== ctx.order) {
    throw invalidCursor(`cursor was made for sort ${r.data.s} ${r.data.d}, not ${ctx.sort} ${ctx.order}`);
  }
  return r.data.k;
}
