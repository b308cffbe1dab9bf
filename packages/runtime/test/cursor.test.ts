// The cursor module on its own: signing binds a cursor to its tenant, list, sort and filters; any change
// is a 400 invalid_cursor; keys rotate; decoded key values are checked by kind before they reach SQL.
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { ApiError, type CursorContext, CursorKeys, cursorKeys, decodeCursor, encodeCursor, loadConfig, validKeyValue } from "../src/index.ts";

const K1 = "k1-0123456789abcdef0123456789abcdef";
const K2 = "k2-0123456789abcdef0123456789abcdef";
const keys = new CursorKeys([K1]);
const ctx: CursorContext = {
  list: "users",
  sort: "username",
  order: "asc",
  tenant: { instanceId: "inst-a" },
  query: { username: "ada", from: new Date("2026-01-01T00:00:00Z"), limit: 5, cursor: "x", sort: "username", order: "asc", absent: undefined },
};
const KEY = ["ada", "u-1"];

const rejection = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
};
const expectInvalid = (f: () => unknown, message?: RegExp) => {
  const err = rejection(f);
  expect(err).toBeInstanceOf(ApiError);
  expect(err).toMatchObject({ statusCode: 400, code: "invalid_cursor" });
  if (message) expect((err as Error).message).toMatch(message);
};

describe("encodeCursor / decodeCursor", () => {
  const cursor = encodeCursor(keys, ctx, KEY);

  it("round-trips the key, and is URL-safe", () => {
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(decodeCursor(keys, cursor, ctx)).toEqual(KEY);
  });

  it("ignores the page parameters (limit, cursor) and absent filters, not the filters", () => {
    expect(decodeCursor(keys, cursor, { ...ctx, query: { username: "ada", from: new Date("2026-01-01T00:00:00Z"), limit: 50 } })).toEqual(KEY);
    expectInvalid(() => decodeCursor(keys, cursor, { ...ctx, query: { ...ctx.query, username: "grace" } }), /not valid for this query/);
    expectInvalid(() => decodeCursor(keys, cursor, { ...ctx, query: { ...ctx.query, from: new Date("2026-01-01T00:00:00.001Z") } }));
    expectInvalid(() => decodeCursor(keys, cursor, { ...ctx, query: { ...ctx.query, state: "active" } }));
  });

  it("is bound to the tenant: another instance, or an org where none was, or another org", () => {
    expectInvalid(() => decodeCursor(keys, cursor, { ...ctx, tenant: { instanceId: "inst-b" } }));
    expectInvalid(() => decodeCursor(keys, cursor, { ...ctx, tenant: { instanceId: "inst-a", orgId: "org-1" } }));
    const orgCursor = encodeCursor(keys, { ...ctx, tenant: { instanceId: "inst-a", orgId: "org-1" } }, KEY);
    expectInvalid(() => decodeCursor(keys, orgCursor, { ...ctx, tenant: { instanceId: "inst-a", orgId: "org-2" } }));
    expectInvalid(() => decodeCursor(keys, orgCursor, ctx));
  });

  it("is bound to the list, the sort and the order", () => {
    expectInvalid(() => decodeCursor(keys, cursor, { ...ctx, list: "grants" }), /malformed/);
    expectInvalid(() => decodeCursor(keys, cursor, { ...ctx, sort: "email" }), /made for sort username asc, not email asc/);
    expectInvalid(() => decodeCursor(keys, cursor, { ...ctx, order: "desc" }), /made for sort username asc, not username desc/);
  });

  it("refuses every single-character change, truncation and extension", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    for (let i = 0; i < cursor.length; i++) {
      for (const c of alphabet) {
        if (c === cursor[i]) continue;
        expectInvalid(() => decodeCursor(keys, cursor.slice(0, i) + c + cursor.slice(i + 1), ctx));
      }
      expectInvalid(() => decodeCursor(keys, cursor.slice(0, i), ctx));
    }
    expectInvalid(() => decodeCursor(keys, `${cursor}A`, ctx));
  });

  it("refuses a re-encoded payload with forged values under the original MAC", () => {
    const [, mac] = cursor.split(".");
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.constant("0000-01-01T00:00:00.000000Z"), fc.constant("\u0000")), { minLength: 1, maxLength: 4 }), (k) => {
        fc.pre(JSON.stringify(k) !== JSON.stringify(KEY));
        const forged = `${Buffer.from(JSON.stringify({ l: "users", s: "username", d: "asc", k })).toString("base64url")}.${mac}`;
        expectInvalid(() => decodeCursor(keys, forged, ctx));
      }),
    );
  });

  it("refuses arbitrary strings without throwing anything but invalid_cursor", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.base64String(),
          fc.string().map((s) => `${s}.${"A".repeat(43)}`),
        ),
        (raw) => {
          expectInvalid(() => decodeCursor(keys, raw, ctx));
        },
      ),
    );
  });
});

describe("keys", () => {
  it("rotation: the first key signs, every key verifies; a removed key's cursors are refused", () => {
    const old = encodeCursor(new CursorKeys([K1]), ctx, KEY);
    const rotated = new CursorKeys([K2, K1]);
    expect(decodeCursor(rotated, old, ctx)).toEqual(KEY);
    const fresh = encodeCursor(rotated, ctx, KEY);
    expect(decodeCursor(new CursorKeys([K2]), fresh, ctx)).toEqual(KEY);
    expectInvalid(() => decodeCursor(new CursorKeys([K2]), old, ctx), /not valid/);
    expectInvalid(() => decodeCursor(new CursorKeys([K1]), fresh, ctx), /not valid/);
  });

  it("without CURSOR_KEYS: one random key per process, and one warning", () => {
    const warn = vi.fn();
    const a = cursorKeys([], { warn });
    const b = cursorKeys([], { warn });
    expect(a).toBe(b);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toMatch(/CURSOR_KEYS is not set.*restart.*replicas/);
    expectInvalid(() => decodeCursor(a, encodeCursor(keys, ctx, KEY), ctx));
    expect(cursorKeys([K1], { warn })).not.toBe(a);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it("CURSOR_KEYS: comma-separated, each at least 32 characters", () => {
    const env = { AUTH_MODE: "dev" };
    expect(loadConfig("x", 0, { ...env, CURSOR_KEYS: ` ${K2} , ${K1}` }).cursorKeys).toEqual([K2, K1]);
    expect(loadConfig("x", 0, env).cursorKeys).toEqual([]);
    expect(loadConfig("x", 0, { ...env, CURSOR_KEYS: "" }).cursorKeys).toEqual([]);
    expect(() => loadConfig("x", 0, { ...env, CURSOR_KEYS: `${K1},short` })).toThrow(/CURSOR_KEYS.*32 characters/);
  });
});

describe("validKeyValue", () => {
  it.each([
    ["text", "", true],
    ["text", "a\u0000b", false],
    ["int", "0", true],
    ["int", "-9223372036854775808", true],
    ["int", "9223372036854775808", false],
    ["int", "1e300", false],
    ["int", "garbage", false],
    ["int", "1.5", false],
    ["timestamp", "2026-03-01T10:00:01.123456Z", true],
    ["timestamp", "0001-01-01T00:00:00.000000Z", true],
    ["timestamp", "9999-12-31T23:59:59.999999Z", true],
    ["timestamp", "0000-01-01T00:00:00.000000Z", false],
    ["timestamp", "0050-02-28T00:00:00.000000Z", true],
    ["timestamp", "2026-13-45T99:99:99.000000Z", false],
    ["timestamp", "2026-02-30T00:00:00.000000Z", false],
    ["timestamp", "2026-01-01T24:00:00.000000Z", false],
    ["timestamp", "2026-13-45 99:99:99+00", false],
    ["timestamp", "1767225600000000", false],
  ] as const)("%s %j → %s", (kind, value, ok) => {
    expect(validKeyValue(kind, value)).toBe(ok);
  });
});
