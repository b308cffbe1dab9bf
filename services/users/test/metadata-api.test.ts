// The user metadata API and the users list's metadata filter over real HTTP and Kafka: list (key filter,
// text methods, keyset pages in both directions), get by key, base64 values, 404s, org restriction.
import * as ev from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { startTestService, type TestService, waitForPositions } from "../../../test/support/service.ts";
import { usersService } from "../src/index.ts";

let t: TestService;
const I = "md-api-inst";
const person = (userName: string) => ({ userName, firstName: "F", lastName: "L", email: `${userName}@x.com`, changeRequired: false });
const bytes = (s: string) => Buffer.from(s, "utf8");
const b64 = (s: string) => bytes(s).toString("base64");
const BINARY = Buffer.from([0x00, 0xfb, 0xff, 0xfe]); // base64 "APv//g==", URL-safe "APv__g"

beforeAll(async () => {
  t = await startTestService(usersService);
  const ada = aggregate(I, "u-ada", "acme");
  const alan = aggregate(I, "u-alan", "acme");
  const grace = aggregate(I, "u-grace", "globex");
  const bot = aggregate(I, "u-bot", "acme");
  const events = [
    ada(ev.userHumanAdded, person("ada")),
    alan(ev.userHumanAdded, person("alan")),
    grace(ev.userHumanAdded, person("grace")),
    bot(ev.userMachineAdded, { userName: "bot", name: "Bot" }),
    ada(ev.userMetadataSet, { key: "plan", value: bytes("gold") }),
    ada(ev.userMetadataSet, { key: "tier", value: bytes("1") }),
    ...["k05", "k03", "k01", "k04", "k02"].map((key) => ada(ev.userMetadataSet, { key, value: bytes(`v-${key}`) })),
    ada(ev.userMetadataSet, { key: "Color", value: bytes("blue") }),
    alan(ev.userMetadataSet, { key: "plan", value: bytes("silver") }),
    alan(ev.userMetadataSet, { key: "blob", value: BINARY }),
    grace(ev.userMetadataSet, { key: "plan", value: bytes("gold") }),
    grace(ev.userMetadataSet, { key: "gone", value: bytes("x") }),
    grace(ev.userMetadataRemoved, { key: "gone" }),
  ];
  await waitForPositions(t.svc.pool, "users", await t.publisher.publish(events));
});
afterAll(async () => t?.close());

interface Entry {
  key: string;
  value: string;
  details: { sequence: number; creationDate: string; changeDate: string; resourceOwner: string };
}
interface Page<T> {
  result: T[];
  nextCursor: string | null;
  code?: string;
}
const getJson = async <T>(path: string, init?: { orgId?: string }) => {
  const res = await t.get(path, I, init);
  return { status: res.status, body: (await res.json()) as T };
};
const keys = async (qs: string, userId = "u-ada") => (await getJson<Page<Entry>>(`/v1/users/${userId}/metadata?${qs}`)).body.result.map((e) => e.key);
const userIds = async (qs: string) => {
  const { status, body } = await getJson<Page<{ id: string }>>(`/v1/users?${qs}`);
  expect(status, qs).toBe(200);
  return body.result.map((u) => u.id);
};
/** Every page of a list, following nextCursor. */
async function pages<T>(path: string): Promise<T[][]> {
  const out: T[][] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const { status, body }: { status: number; body: Page<T> } = await getJson<Page<T>>(`${path}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(status).toBe(200);
    out.push(body.result);
    cursor = body.nextCursor;
  } while (cursor && out.length < 20);
  return out;
}

describe("GET /v1/users/:userId/metadata", () => {
  it("lists the user's entries by key, values base64, with details", async () => {
    const { status, body } = await getJson<Page<Entry>>("/v1/users/u-ada/metadata");
    expect(status).toBe(200);
    expect(body.nextCursor).toBeNull();
    // Byte order of the database collation is not assumed: only the set and the position of "plan" matter here.
    expect(body.result.map((e) => e.key).sort()).toEqual(["Color", "k01", "k02", "k03", "k04", "k05", "plan", "tier"].sort());
    expect(body.result.find((e) => e.key === "plan")).toEqual({
      key: "plan",
      value: b64("gold"),
      details: { sequence: 2, creationDate: "2026-03-01T10:00:02.000Z", changeDate: "2026-03-01T10:00:02.000Z", resourceOwner: "acme" },
    });
  });

  it("returns arbitrary bytes exactly", async () => {
    const { body } = await getJson<Page<Entry>>("/v1/users/u-alan/metadata?key=blob");
    expect(body.result.map((e) => Buffer.from(e.value, "base64"))).toEqual([BINARY]);
  });

  it("filters by key: exact and case-sensitive by default, or by the given text method", async () => {
    expect(await keys("key=plan")).toEqual(["plan"]);
    expect(await keys("key=PLAN")).toEqual([]);
    expect(await keys("key=PLAN&keyMethod=equalsIgnoreCase")).toEqual(["plan"]);
    expect(await keys("key=k0&keyMethod=startsWith")).toEqual(["k01", "k02", "k03", "k04", "k05"]);
    expect(await keys("key=0&keyMethod=contains")).toEqual(["k01", "k02", "k03", "k04", "k05"]);
    expect(await keys("key=%25&keyMethod=contains")).toEqual([]); // LIKE wildcards are literal
  });

  it("pages with a keyset cursor, forwards and backwards, by key and by creation date", async () => {
    const forward = await pages<Entry>("/v1/users/u-ada/metadata?key=k0&keyMethod=startsWith&limit=2");
    expect(forward.map((p) => p.map((e) => e.key))).toEqual([["k01", "k02"], ["k03", "k04"], ["k05"]]);
    const backward = await pages<Entry>("/v1/users/u-ada/metadata?key=k0&keyMethod=startsWith&limit=2&order=desc");
    expect(backward.flat().map((e) => e.key)).toEqual(["k05", "k04", "k03", "k02", "k01"]);
    // Creation order is the order they were set in.
    const byCreation = await pages<Entry>("/v1/users/u-ada/metadata?key=k0&keyMethod=startsWith&limit=3&sort=creationDate");
    expect(byCreation.map((p) => p.length)).toEqual([3, 2]);
    expect(byCreation.flat().map((e) => e.key)).toEqual(["k05", "k03", "k01", "k04", "k02"]);
  });

  it("a cursor is only valid for the user and filters it was made for", async () => {
    const first = await getJson<Page<Entry>>("/v1/users/u-ada/metadata?limit=1");
    const cursor = encodeURIComponent(first.body.nextCursor as string);
    expect((await getJson<Page<Entry>>(`/v1/users/u-alan/metadata?limit=1&cursor=${cursor}`)).body.code).toBe("invalid_cursor");
    expect((await getJson<Page<Entry>>(`/v1/users/u-ada/metadata?limit=1&key=plan&cursor=${cursor}`)).body.code).toBe("invalid_cursor");
  });

  it("an unknown user is a 404; a user without metadata an empty list; removed keys are gone", async () => {
    const missing = await getJson<{ code: string; message: string }>("/v1/users/nobody/metadata");
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: "not_found", message: "user nobody not found" });
    expect(await getJson<Page<Entry>>("/v1/users/u-bot/metadata")).toEqual({ status: 200, body: { result: [], nextCursor: null } });
    expect(await keys("", "u-grace")).toEqual(["plan"]);
  });

  it("an org-restricted token sees only its org's users' metadata", async () => {
    expect((await getJson<Page<Entry>>("/v1/users/u-grace/metadata", { orgId: "acme" })).status).toBe(404);
    expect((await getJson<Page<Entry>>("/v1/users/u-ada/metadata?key=plan", { orgId: "acme" })).body.result).toHaveLength(1);
  });

  it("400 for a bad key method or an over-long key", async () => {
    expect((await getJson<Page<Entry>>("/v1/users/u-ada/metadata?keyMethod=regex")).status).toBe(400);
    expect((await getJson<Page<Entry>>(`/v1/users/u-ada/metadata?key=${"k".repeat(201)}`)).status).toBe(400);
  });
});

describe("GET /v1/users/:userId/metadata/:key", () => {
  it("returns the entry, value base64", async () => {
    const { status, body } = await getJson<Entry>("/v1/users/u-alan/metadata/plan");
    expect(status).toBe(200);
    expect(body).toMatchObject({ key: "plan", value: b64("silver"), details: { resourceOwner: "acme" } });
  });

  it("404 for a key the user does not have (keys are case-sensitive), a removed key, or another org's user", async () => {
    expect((await getJson("/v1/users/u-ada/metadata/PLAN")).status).toBe(404);
    expect((await getJson("/v1/users/u-grace/metadata/gone")).status).toBe(404);
    expect((await getJson("/v1/users/u-grace/metadata/plan", { orgId: "acme" })).status).toBe(404);
    const res = await getJson<{ code: string; message: string }>("/v1/users/u-ada/metadata/nope");
    expect(res.body).toMatchObject({ code: "not_found", message: "metadata nope of user u-ada not found" });
  });
});

describe("GET /v1/users?metadataKey&metadataValue", () => {
  it("filters users by metadata key, by value (base64 of the bytes), or by both on the same entry", async () => {
    expect(await userIds("metadataKey=plan")).toEqual(["u-ada", "u-alan", "u-grace"]);
    expect(await userIds(`metadataKey=plan&metadataValue=${encodeURIComponent(b64("gold"))}`)).toEqual(["u-ada", "u-grace"]);
    expect(await userIds(`metadataValue=${encodeURIComponent(b64("gold"))}`)).toEqual(["u-ada", "u-grace"]);
    // Key and value must match ONE entry: ada has tier=1 and plan=gold, but no tier=gold.
    expect(await userIds(`metadataKey=tier&metadataValue=${encodeURIComponent(b64("gold"))}`)).toEqual([]);
    expect(await userIds("metadataKey=PLAN")).toEqual([]);
    expect(await userIds("metadataKey=PLAN&metadataKeyMethod=equalsIgnoreCase")).toEqual(["u-ada", "u-alan", "u-grace"]);
    expect(await userIds("metadataKey=k0&metadataKeyMethod=startsWith")).toEqual(["u-ada"]);
    expect(await userIds("metadataKey=gone")).toEqual([]);
  });

  it("compares bytes exactly; the standard and URL-safe base64 alphabets, padded or not, name the same bytes", async () => {
    expect(await userIds(`metadataValue=${encodeURIComponent("APv//g==")}`)).toEqual(["u-alan"]);
    expect(await userIds("metadataValue=APv__g")).toEqual(["u-alan"]);
    expect(await userIds(`metadataValue=${encodeURIComponent(b64("gol"))}`)).toEqual([]);
  });

  it("combines with the other filters (AND) and pages across pages", async () => {
    expect(await userIds("metadataKey=plan&orgId=acme")).toEqual(["u-ada", "u-alan"]);
    expect(await userIds("metadataKey=plan&username=a&usernameMethod=startsWith")).toEqual(["u-ada", "u-alan"]);
    const forward = await pages<{ id: string }>("/v1/users?metadataKey=plan&limit=1");
    expect(forward.map((p) => p.map((u) => u.id))).toEqual([["u-ada"], ["u-alan"], ["u-grace"]]);
    const backward = await pages<{ id: string }>("/v1/users?metadataKey=plan&limit=2&order=desc&sort=username");
    expect(backward.map((p) => p.map((u) => u.id))).toEqual([["u-grace", "u-alan"], ["u-ada"]]);
    // The filter is part of the cursor: the same cursor with another value is refused.
    const first = await getJson<Page<{ id: string }>>("/v1/users?metadataKey=plan&limit=1");
    const other = await getJson<Page<{ id: string }>>(`/v1/users?metadataKey=tier&limit=1&cursor=${encodeURIComponent(first.body.nextCursor as string)}`);
    expect(other.body.code).toBe("invalid_cursor");
  });

  it("an org-restricted token filters only its org's users", async () => {
    const { body } = await getJson<Page<{ id: string }>>(`/v1/users?metadataValue=${encodeURIComponent(b64("gold"))}`, { orgId: "acme" });
    expect(body.result.map((u) => u.id)).toEqual(["u-ada"]);
  });

  it("400 for a value that is not base64", async () => {
    for (const bad of ["not base64!", "abcde", "a", "%3D%3D"]) {
      const res = await t.get(`/v1/users?metadataValue=${bad}`, I);
      expect(res.status, bad).toBe(400);
      expect(await res.json()).toMatchObject({ code: "invalid_argument", details: [{ field: "metadataValue" }] });
    }
  });
});
