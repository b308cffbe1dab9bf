// End to end through real Kafka and HTTP: users of two instances set up auth methods through the
// producer SDK; each instance's token sees its own methods and none of the other's.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { startTestService, type TestService, waitForPositions } from "../../../test/support/service.ts";
import { authMethodsService } from "../src/index.ts";

let t: TestService;
const [instA, instB] = ["e2e-am-a", "e2e-am-b"];
const instC = "e2e-am-domains";

interface Method {
  userId: string;
  type: string;
  tokenId: string | null;
  state: string;
  name: string | null;
  details: { resourceOwner: string };
}
interface Page {
  result: Method[];
  nextCursor: string | null;
}

function history(): EventToPublish[] {
  const out: EventToPublish[] = [];
  for (const inst of [instA, instB]) {
    for (const [i, org] of ["org-1", "org-2"].entries()) {
      const u = aggregate(inst, `${inst}-u${i}`, org);
      out.push(
        u(ev.userHumanAdded, { userName: `u${i}`, firstName: "F", lastName: "L", email: "u@x.com", changeRequired: false, encodedHash: "$argon2id$h" }),
        u(ev.userHumanMfaOtpAdded, {}),
        u(ev.userHumanMfaOtpVerified, {}),
        u(ev.userHumanU2fTokenAdded, { webAuthNTokenId: `key-${i}`, rpID: "example.com" }),
        u(ev.userHumanU2fTokenVerified, { webAuthNTokenId: `key-${i}`, webAuthNTokenName: "My key", publicKey: Buffer.from("public-key-bytes") }),
        u(ev.userHumanPasswordlessTokenAdded, { webAuthNTokenId: `pl-${i}` }),
        u(ev.userHumanMfaOtpEmailAdded, {}),
      );
    }
  }
  // A user with WebAuthn methods bound to two relying parties, and a TOTP bound to none.
  const c = aggregate(instC, `${instC}-u`, "org-1");
  out.push(
    c(ev.userHumanAdded, { userName: "c", firstName: "F", lastName: "L", email: "c@x.com", changeRequired: false, encodedHash: "$argon2id$h" }),
    c(ev.userHumanMfaOtpAdded, {}),
    c(ev.userHumanMfaOtpVerified, {}),
    c(ev.userHumanU2fTokenAdded, { webAuthNTokenId: "key-a", rpID: "example.com" }),
    c(ev.userHumanU2fTokenVerified, { webAuthNTokenId: "key-a", webAuthNTokenName: "A", publicKey: Buffer.from("a") }),
    c(ev.userHumanU2fTokenAdded, { webAuthNTokenId: "key-b", rpID: "other.example" }),
    c(ev.userHumanU2fTokenVerified, { webAuthNTokenId: "key-b", webAuthNTokenName: "B", publicKey: Buffer.from("b") }),
    c(ev.userHumanPasswordlessTokenAdded, { webAuthNTokenId: "pl-c", rpID: "example.com" }),
  );
  return out;
}

beforeAll(async () => {
  t = await startTestService(authMethodsService);
  const positions = await t.publisher.publish(history());
  await waitForPositions(t.svc.pool, authMethodsService.projection.name, positions);
});
afterAll(async () => t?.close());

const getJson = async <T>(path: string, instanceId: string) => {
  const res = await t.get(path, instanceId);
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
};

describe("auth methods end to end", () => {
  it("each instance sees exactly its own methods, paged through the keyset cursor in every sort", async () => {
    for (const inst of [instA, instB]) {
      for (const sort of ["userId&order=desc", "creationDate", "changeDate&order=desc", "type"]) {
        const seen: Method[] = [];
        let cursor: string | null = null;
        do {
          const page: Page = await getJson(`/v1/auth-methods?limit=3&sort=${sort}${cursor ? `&cursor=${cursor}` : ""}`, inst);
          seen.push(...page.result);
          cursor = page.nextCursor;
        } while (cursor);
        expect(new Set(seen.map((m) => `${m.userId}/${m.type}/${m.tokenId}`)).size, sort).toBe(8);
        expect(seen, sort).toHaveLength(8);
        expect(new Set(seen.map((m) => m.userId))).toEqual(new Set([`${inst}-u0`, `${inst}-u1`]));
        if (sort === "userId&order=desc") expect(seen.map((m) => m.userId)).toEqual([...seen.map((m) => m.userId)].sort().reverse());
        if (sort === "type") expect(seen.map((m) => m.type)).toEqual(["totp", "totp", "u2f", "u2f", "passwordless", "passwordless", "otpEmail", "otpEmail"]);
      }
    }
  });

  it("a user's methods and method types; filters by type, state and org", async () => {
    const { result } = await getJson<Page>(`/v1/users/${instA}-u0/auth-methods`, instA);
    expect(result.map((m) => [m.type, m.tokenId, m.state, m.name]).sort()).toEqual(
      [
        ["otpEmail", null, "ready", null],
        ["passwordless", "pl-0", "notReady", null],
        ["totp", null, "ready", null],
        ["u2f", "key-0", "ready", "My key"],
      ].sort(),
    );
    expect(JSON.stringify(result)).not.toContain("public-key");
    expect(await getJson(`/v1/users/${instA}-u0/auth-method-types`, instA)).toEqual({ types: ["password", "totp", "u2f", "otpEmail"] });
    expect(await getJson(`/v1/users/${instA}-u0/auth-method-types?onlyReady=false`, instA)).toEqual({
      types: ["password", "totp", "u2f", "passwordless", "otpEmail"],
    });
    const readyWebAuthn = await getJson<Page>(`/v1/auth-methods?types=u2f,passwordless&state=ready`, instA);
    expect(readyWebAuthn.result.map((m) => m.tokenId).sort()).toEqual(["key-0", "key-1"]);
    const org2 = await getJson<Page>(`/v1/auth-methods?orgId=org-2`, instA);
    expect(org2.result.map((m) => m.userId)).toEqual(Array(4).fill(`${instA}-u1`));
  });

  it("another instance's user is a 404; a malformed query is a 400", async () => {
    const other = await t.get(`/v1/users/${instA}-u0/auth-methods`, instB);
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ code: "not_found" });
    for (const q of [
      "/v1/auth-methods?types=sms",
      "/v1/auth-methods?state=removed",
      "/v1/auth-methods?sort=name",
      "/v1/auth-methods?x=1",
      `/v1/users/${instA}-u0/auth-methods?onlyReady=1`,
    ]) {
      const res = await t.get(q, instA);
      expect(res.status, q).toBe(400);
      expect(await res.json()).toMatchObject({ code: "invalid_argument" });
    }
    const forged = Buffer.from(JSON.stringify({ s: "creationDate", d: "asc", v: 1, id: "not-json" })).toString("base64url");
    expect((await t.get(`/v1/auth-methods?cursor=${forged}`, instA)).status).toBe(400);
  });
});

describe("relying-party domains and lists of states", () => {
  const user = `${instC}-u`;
  it("method types for a domain count WebAuthn methods of that relying party only, and methods bound to none", async () => {
    expect(await getJson(`/v1/users/${user}/auth-method-types`, instC)).toEqual({ types: ["password", "totp", "u2f"] });
    expect(await getJson(`/v1/users/${user}/auth-method-types?domain=EXAMPLE.com`, instC)).toEqual({ types: ["password", "totp", "u2f"] });
    expect(await getJson(`/v1/users/${user}/auth-method-types?domain=nowhere.example`, instC)).toEqual({ types: ["password", "totp"] });
    expect(await getJson(`/v1/users/${user}/auth-method-types?domain=example.com&onlyReady=false`, instC)).toEqual({
      types: ["password", "totp", "u2f", "passwordless"],
    });
    const { result } = await getJson<Page>(`/v1/users/${user}/auth-methods?domain=other.example`, instC);
    expect(result.map((m) => [m.type, m.tokenId]).sort()).toEqual([
      ["totp", null],
      ["u2f", "key-b"],
    ]);
  });

  it("state takes one state or a list", async () => {
    const ids = async (q: string) => (await getJson<Page>(`/v1/auth-methods?${q}`, instC)).result.map((m) => m.tokenId ?? m.type).sort();
    expect(await ids("state=notReady")).toEqual(["pl-c"]);
    expect(await ids("state=ready,notReady&types=passwordless,u2f")).toEqual(["key-a", "key-b", "pl-c"]);
    expect(await ids("state=ready&domain=example.com")).toEqual(["key-a", "totp"]);
    for (const q of ["state=ready,gone", "domain=a%20b", `domain=${"x".repeat(300)}`])
      expect((await t.get(`/v1/auth-methods?${q}`, instC)).status, q).toBe(400);
  });
});
