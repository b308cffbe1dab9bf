// The IdP links API and the IdP rule of the auth method types over real HTTP and Kafka: keyset pages in
// several sorts, the IdP filter, 404s, org restriction; a user with a link has the type "idp".
import * as ev from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { startTestService, type TestService, waitForPositions } from "../../../test/support/service.ts";
import { authMethodsService } from "../src/index.ts";

let t: TestService;
const I = "idp-api-inst";
const human = (userName: string, encodedHash: string | null = null) => ({
  userName,
  firstName: "F",
  lastName: "L",
  email: "f@x.com",
  changeRequired: false,
  encodedHash,
});
const ada = aggregate(I, "u-ada", "acme");
const alan = aggregate(I, "u-alan", "acme");
const grace = aggregate(I, "u-grace", "globex");

beforeAll(async () => {
  t = await startTestService(authMethodsService);
  const events = [
    ada(ev.userHumanAdded, human("ada", "$argon2id$h")),
    alan(ev.userHumanAdded, human("alan")),
    grace(ev.userHumanAdded, human("grace")),
    ada(ev.userIdpLinkAdded, { idpConfigId: "idp-c", userId: "ada-at-c", displayName: "Ada C" }),
    ada(ev.userIdpLinkAdded, { idpConfigId: "idp-a", userId: "ada-at-a", displayName: "Ada A" }),
    ada(ev.userIdpLinkAdded, { idpConfigId: "idp-b", userId: "ada-at-b" }),
    ada(ev.userIdpLinkAdded, { idpConfigId: "idp-a", userId: "ada-at-a-2" }),
    ada(ev.userHumanMfaOtpAdded, {}),
    ada(ev.userHumanMfaOtpVerified, {}),
    grace(ev.userIdpLinkAdded, { idpConfigId: "idp-a", userId: "grace-at-a" }),
  ];
  await waitForPositions(t.svc.pool, authMethodsService.projection.name, await t.publisher.publish(events));
});
afterAll(async () => t?.close());

interface Link {
  idpId: string;
  userId: string;
  externalUserId: string;
  displayName: string | null;
  details: { sequence: number; creationDate: string; changeDate: string; resourceOwner: string };
}
interface Page {
  result: Link[];
  nextCursor: string | null;
  code?: string;
}
const getJson = async <T>(path: string, init?: { orgId?: string }) => {
  const res = await t.get(path, I, init);
  return { status: res.status, body: (await res.json()) as T };
};
async function pages(path: string): Promise<Link[][]> {
  const out: Link[][] = [];
  let cursor: string | null = null;
  do {
    const { status, body }: { status: number; body: Page } = await getJson<Page>(`${path}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(status).toBe(200);
    out.push(body.result);
    cursor = body.nextCursor;
  } while (cursor && out.length < 20);
  return out;
}
const types = async (userId: string) => (await getJson<{ types: string[] }>(`/v1/users/${userId}/auth-method-types`)).body.types;

describe("GET /v1/users/:userId/idp-links", () => {
  it("lists the user's links with the user's ids here and at the IdP, and details", async () => {
    const { status, body } = await getJson<Page>("/v1/users/u-ada/idp-links");
    expect(status).toBe(200);
    expect(body.nextCursor).toBeNull();
    expect(body.result.map((l) => l.externalUserId)).toEqual(["ada-at-c", "ada-at-a", "ada-at-b", "ada-at-a-2"]);
    expect(body.result[0]).toEqual({
      idpId: "idp-c",
      userId: "u-ada",
      externalUserId: "ada-at-c",
      displayName: "Ada C",
      details: { sequence: 2, creationDate: "2026-03-01T10:00:02.000Z", changeDate: "2026-03-01T10:00:02.000Z", resourceOwner: "acme" },
    });
    expect(body.result[2]?.displayName).toBeNull();
  });

  it("pages with a keyset cursor in every sort and both orders", async () => {
    expect((await pages("/v1/users/u-ada/idp-links?limit=3")).map((p) => p.map((l) => l.externalUserId))).toEqual([
      ["ada-at-c", "ada-at-a", "ada-at-b"],
      ["ada-at-a-2"],
    ]);
    expect((await pages("/v1/users/u-ada/idp-links?limit=1&order=desc")).flat().map((l) => l.externalUserId)).toEqual([
      "ada-at-a-2",
      "ada-at-b",
      "ada-at-a",
      "ada-at-c",
    ]);
    const byIdp = await pages("/v1/users/u-ada/idp-links?limit=2&sort=idpId");
    expect(byIdp.map((p) => p.map((l) => l.externalUserId))).toEqual([
      ["ada-at-a", "ada-at-a-2"],
      ["ada-at-b", "ada-at-c"],
    ]);
    const byIdpDesc = await pages("/v1/users/u-ada/idp-links?limit=3&sort=idpId&order=desc");
    expect(byIdpDesc.flat().map((l) => l.externalUserId)).toEqual(["ada-at-c", "ada-at-b", "ada-at-a-2", "ada-at-a"]);
  });

  it("filters by IdP", async () => {
    expect((await getJson<Page>("/v1/users/u-ada/idp-links?idpId=idp-a")).body.result.map((l) => l.externalUserId)).toEqual(["ada-at-a", "ada-at-a-2"]);
    expect((await getJson<Page>("/v1/users/u-ada/idp-links?idpId=idp-none")).body.result).toEqual([]);
  });

  it("a cursor of one user's list is refused for another's", async () => {
    const first = await getJson<Page>("/v1/users/u-ada/idp-links?limit=1");
    const res = await getJson<Page>(`/v1/users/u-grace/idp-links?limit=1&cursor=${encodeURIComponent(first.body.nextCursor as string)}`);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_cursor");
  });

  it("an unknown user is a 404, a user without links an empty list", async () => {
    const res = await getJson<{ code: string }>("/v1/users/nobody/idp-links");
    expect(res.status).toBe(404);
    expect(res.body.code).toBe("not_found");
    expect(await getJson<Page>("/v1/users/u-alan/idp-links")).toEqual({ status: 200, body: { result: [], nextCursor: null } });
  });

  it("an org-restricted token sees only its org's users' links", async () => {
    expect((await getJson<Page>("/v1/users/u-grace/idp-links", { orgId: "acme" })).status).toBe(404);
    expect((await getJson<Page>("/v1/users/u-grace/idp-links", { orgId: "globex" })).body.result.map((l) => l.externalUserId)).toEqual(["grace-at-a"]);
  });
});

describe("GET /v1/users/:userId/auth-method-types with IdP links", () => {
  it("a user with at least one link has the type idp, a user without none", async () => {
    expect(await types("u-ada")).toEqual(["password", "idp", "totp"]);
    expect(await types("u-grace")).toEqual(["idp"]);
    expect(await types("u-alan")).toEqual([]);
    expect((await getJson<{ types: string[] }>("/v1/users/u-ada/auth-method-types?onlyReady=false")).body.types).toContain("idp");
  });

  it("the type goes when the last link goes (removed, or the IdP removed)", async () => {
    const positions = await t.publisher.publish([
      grace(ev.userIdpLinkRemoved, { idpConfigId: "idp-a", userId: "grace-at-a" }),
      ada(ev.userIdpLinkRemoved, { idpConfigId: "idp-c", userId: "ada-at-c" }),
      aggregate(I, "acme", "acme")(ev.orgIdpConfigRemoved, { idpConfigId: "idp-a" }),
    ]);
    await waitForPositions(t.svc.pool, authMethodsService.projection.name, positions);
    expect(await types("u-grace")).toEqual([]);
    // idp-b is left.
    expect(await types("u-ada")).toEqual(["password", "idp", "totp"]);
    expect((await getJson<Page>("/v1/users/u-ada/idp-links")).body.result.map((l) => l.externalUserId)).toEqual(["ada-at-b"]);
    await waitForPositions(
      t.svc.pool,
      authMethodsService.projection.name,
      await t.publisher.publish([aggregate(I, I, I, Date.parse("2026-03-02T00:00:00Z"))(ev.instanceIdpRemoved, { id: "idp-b" })]),
    );
    expect(await types("u-ada")).toEqual(["password", "totp"]);
  });
});
