// The users filters added for ZITADEL parity over real HTTP and Kafka: the GET list's new filters, text
// methods and nick name sort, and POST /v1/users/_search with its query tree (and / or / not), keyset
// pages, totals, bounds, and tenant and org isolation.
import * as ev from "@idp/events";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { signToken, startTestService, type TestService, waitForPositions } from "../../../test/support/service.ts";
import { usersService } from "../src/index.ts";

let t: TestService;
const I = "search-inst";
const OTHER = "search-other";
const human = (userName: string, firstName: string, lastName: string, email: string, extra: { nickName?: string; phone?: string } = {}) => ({
  userName,
  firstName,
  lastName,
  displayName: `${firstName} ${lastName}`,
  email,
  changeRequired: false,
  ...extra,
});

beforeAll(async () => {
  t = await startTestService(usersService);
  const inst = aggregate(I, I, I);
  const acme = aggregate(I, "acme", "acme");
  const ada = aggregate(I, "u-ada", "acme");
  const alan = aggregate(I, "u-alan", "acme");
  const linus = aggregate(I, "u-linus", "acme");
  const grace = aggregate(I, "u-grace", "globex");
  const bot = aggregate(I, "u-bot", "acme");
  const eve = aggregate(OTHER, "u-eve", "acme");
  const events = [
    inst(ev.instanceDomainPolicyAdded, { userLoginMustBeDomain: false }),
    acme(ev.orgDomainVerified, { domain: "acme.com" }),
    acme(ev.orgDomainVerified, { domain: "acme.org" }),
    acme(ev.orgDomainPrimarySet, { domain: "acme.com" }),
    acme(ev.orgDomainPolicyAdded, { userLoginMustBeDomain: true }),
    ada(ev.userHumanAdded, human("ada", "Ada", "Lovelace", "Ada@Acme.com", { nickName: "Countess", phone: "+41 79 111" })),
    alan(ev.userHumanAdded, human("alan", "Alan", "Turing", "alan@acme.com", { nickName: "enigma", phone: "+44 20 222" })),
    linus(ev.userHumanAdded, human("linus", "Linus", "Torvalds", "linus@kernel.org")),
    grace(ev.userHumanAdded, human("grace", "Grace", "Hopper", "grace@globex.com", { nickName: "Amazing Grace" })),
    bot(ev.userMachineAdded, { userName: "deploy-bot", name: "Deploy", accessTokenType: 1 }),
    eve(ev.userHumanAdded, human("ada", "Ada", "Other", "ada@acme.com", { nickName: "Countess", phone: "+41 79 111" })),
    alan(ev.userLocked, {}),
    ada(ev.userHumanEmailVerified, {}),
    ada(ev.userHumanPhoneVerified, {}),
    ada(ev.userMetadataSet, { key: "plan", value: Buffer.from("gold") }),
    alan(ev.userMetadataSet, { key: "plan", value: Buffer.from("silver") }),
    grace(ev.userMetadataSet, { key: "tier", value: Buffer.from("gold") }),
  ];
  await waitForPositions(t.svc.pool, "users", await t.publisher.publish(events));
});
afterAll(async () => t?.close());

interface Page {
  result: { id: string }[];
  nextCursor: string | null;
  details?: { totalResult: number };
  code?: string;
  message?: string;
}
const ids = async (qs: string) => {
  const res = await t.get(`/v1/users?${qs}`, I);
  const body = (await res.json()) as Page;
  expect(res.status, `${qs}: ${JSON.stringify(body)}`).toBe(200);
  return body.result.map((u) => u.id).sort();
};
const search = async (body: unknown, init: { orgId?: string; instanceId?: string } = {}) => {
  const token = await signToken({ instanceId: init.instanceId ?? I, ...(init.orgId ? { orgId: init.orgId } : {}) });
  const res = await fetch(`${t.url}/v1/users/_search`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Page };
};
/** The ids a search finds, sorted (one page of up to 200). */
const found = async (queries: unknown[], init: { orgId?: string; instanceId?: string } = {}) => {
  const { status, body } = await search({ queries, limit: 200 }, init);
  expect(status, JSON.stringify(body)).toBe(200);
  return body.result.map((u) => u.id).sort();
};
const ALL = ["u-ada", "u-alan", "u-bot", "u-grace", "u-linus"];

describe("GET /v1/users: the new filters and methods", () => {
  it("filters by nick name, phone, verified e-mail and phone, a list of e-mails", async () => {
    expect(await ids("nickName=countess")).toEqual(["u-ada"]);
    expect(await ids(`phone=${encodeURIComponent("+41 79 111")}`)).toEqual(["u-ada"]);
    expect(await ids("phone=%2B44&phoneMethod=startsWith")).toEqual(["u-alan"]);
    expect(await ids("isEmailVerified=true")).toEqual(["u-ada"]);
    expect(await ids("isEmailVerified=false")).toEqual(["u-alan", "u-bot", "u-grace", "u-linus"]);
    expect(await ids("isPhoneVerified=true")).toEqual(["u-ada"]);
    expect(await ids("isPhoneVerified=false&isEmailVerified=false&type=human")).toEqual(["u-alan", "u-grace", "u-linus"]);
    expect(await ids("emails=ADA@acme.com,grace@globex.com,nobody@x.com")).toEqual(["u-ada", "u-grace"]);
  });

  it("filters by the preferred login name (any login name with loginName)", async () => {
    expect(await ids("preferredLoginName=ADA@acme.com")).toEqual(["u-ada"]);
    expect(await ids("preferredLoginName=ada@acme.org")).toEqual([]);
    expect(await ids("loginName=ada@acme.org")).toEqual(["u-ada"]);
    expect(await ids("preferredLoginName=grace")).toEqual(["u-grace"]);
  });

  it("startsWith and contains keep ignoring case; ZITADEL's method names are case-sensitive", async () => {
    for (const m of ["startsWith", "startsWithIgnoreCase", "TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE"])
      expect(await ids(`nickName=count&nickNameMethod=${m}`), m).toEqual(["u-ada"]);
    expect(await ids("nickName=count&nickNameMethod=TEXT_QUERY_METHOD_STARTS_WITH")).toEqual([]);
    expect(await ids("nickName=Count&nickNameMethod=TEXT_QUERY_METHOD_STARTS_WITH")).toEqual(["u-ada"]);
    for (const m of ["contains", "containsIgnoreCase", "TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE"])
      expect(await ids(`nickName=grace&nickNameMethod=${m}`), m).toEqual(["u-grace"]);
    expect(await ids("nickName=grace&nickNameMethod=TEXT_QUERY_METHOD_CONTAINS")).toEqual([]);
    expect(await ids("nickName=Grace&nickNameMethod=TEXT_QUERY_METHOD_CONTAINS")).toEqual(["u-grace"]);
  });

  it("endsWith (case-sensitive), endsWithIgnoreCase, notEquals", async () => {
    expect(await ids("email=acme.com&emailMethod=endsWith")).toEqual(["u-alan"]);
    expect(await ids("email=acme.com&emailMethod=TEXT_QUERY_METHOD_ENDS_WITH")).toEqual(["u-alan"]);
    expect(await ids("email=ACME.COM&emailMethod=endsWithIgnoreCase")).toEqual(["u-ada", "u-alan"]);
    expect(await ids("email=%25.com&emailMethod=endsWithIgnoreCase")).toEqual([]);
    // A user without the field is "not equal" too (the complement of equals).
    expect(await ids("username=ada&usernameMethod=notEquals")).toEqual(["u-alan", "u-bot", "u-grace", "u-linus"]);
    expect(await ids("nickName=ENIGMA&nickNameMethod=notEquals")).toEqual(ALL);
    expect(await ids("nickName=ENIGMA&nickNameMethod=notEqualsIgnoreCase")).toEqual(["u-ada", "u-bot", "u-grace", "u-linus"]);
  });

  it("sorts by nick name across pages (users without one first, by id)", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.get(`/v1/users?sort=nickName&limit=2${cursor ? `&cursor=${cursor}` : ""}`, I);
      const body = (await res.json()) as Page;
      expect(res.status).toBe(200);
      seen.push(...body.result.map((u) => u.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(["u-bot", "u-linus", "u-grace", "u-ada", "u-alan"]);
  });

  it("400 for an unknown method or a malformed e-mail list", async () => {
    for (const qs of ["nickNameMethod=regex", "isEmailVerified=yes", "emails=,", `emails=${"a,".repeat(101)}`]) {
      const res = await t.get(`/v1/users?${qs}`, I);
      expect(res.status, qs).toBe(400);
    }
  });
});

describe("POST /v1/users/_search: typed queries", () => {
  it.each([
    [{ userNameQuery: { userName: "ada" } }, ["u-ada"]],
    [{ userNameQuery: { userName: "ADA" } }, []], // ZITADEL's default method: EQUALS, case-sensitive
    [{ userNameQuery: { userName: "ADA", method: "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE" } }, ["u-ada"]],
    [{ userNameQuery: { userName: "a", method: "startsWith" } }, ["u-ada", "u-alan"]],
    [{ firstNameQuery: { firstName: "Lin", method: "TEXT_QUERY_METHOD_STARTS_WITH" } }, ["u-linus"]],
    [{ lastNameQuery: { lastName: "ing", method: "TEXT_QUERY_METHOD_ENDS_WITH" } }, ["u-alan"]],
    [{ nickNameQuery: { nickName: "grace", method: "TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE" } }, ["u-grace"]],
    [{ displayNameQuery: { displayName: "Grace Hopper" } }, ["u-grace"]],
    [{ emailQuery: { emailAddress: "ACME.COM", method: "TEXT_QUERY_METHOD_ENDS_WITH_IGNORE_CASE" } }, ["u-ada", "u-alan"]],
    [{ phoneQuery: { number: "+41 79 111" } }, ["u-ada"]],
    [{ loginNameQuery: { loginName: "ada@acme.org" } }, ["u-ada"]],
    [{ loginNameQuery: { loginName: "@acme.com", method: "endsWith" } }, ["u-ada", "u-alan", "u-bot", "u-linus"]],
    [{ stateQuery: { state: "USER_STATE_LOCKED" } }, ["u-alan"]],
    [{ stateQuery: { state: "active" } }, ["u-ada", "u-bot", "u-grace", "u-linus"]],
    [{ typeQuery: { type: "TYPE_MACHINE" } }, ["u-bot"]],
    [{ organizationIdQuery: { organizationId: "globex" } }, ["u-grace"]],
    [{ inUserIdsQuery: { userIds: ["u-bot", "u-grace", "u-eve"] } }, ["u-bot", "u-grace"]],
    [{ inUserEmailsQuery: { userEmails: ["ada@acme.com", "LINUS@kernel.org"] } }, ["u-ada", "u-linus"]],
    [{ metadataKeyFilter: { key: "plan" } }, ["u-ada", "u-alan"]],
    [{ metadataKeyFilter: { key: "PLAN", method: "equalsIgnoreCase" } }, ["u-ada", "u-alan"]],
    [{ metadataValueFilter: { value: Buffer.from("gold").toString("base64") } }, ["u-ada", "u-grace"]],
  ])("%j", async (query, expected) => {
    expect(await found([query])).toEqual(expected);
  });

  it("an empty body lists every user of the tenant", async () => {
    const { status, body } = await search({});
    expect(status).toBe(200);
    expect(body.result.map((u) => u.id)).toEqual(ALL);
    expect(body.details).toBeUndefined();
  });
});

describe("POST /v1/users/_search: and / or / not", () => {
  const acme = { organizationIdQuery: { organizationId: "acme" } };
  const machine = { typeQuery: { type: "TYPE_MACHINE" } };
  const name = (userName: string) => ({ userNameQuery: { userName } });

  it("top-level queries are AND-ed; andQuery and orQuery combine", async () => {
    expect(await found([acme, { stateQuery: { state: "USER_STATE_ACTIVE" } }])).toEqual(["u-ada", "u-bot", "u-linus"]);
    expect(await found([{ orQuery: { queries: [name("ada"), name("grace"), name("nobody")] } }])).toEqual(["u-ada", "u-grace"]);
    expect(await found([{ andQuery: { queries: [acme, { notQuery: { query: machine } }] } }])).toEqual(["u-ada", "u-alan", "u-linus"]);
  });

  it("NOT inside OR, OR inside NOT, AND inside OR", async () => {
    expect(await found([{ orQuery: { queries: [{ notQuery: { query: acme } }, name("alan")] } }])).toEqual(["u-alan", "u-grace"]);
    expect(await found([{ notQuery: { query: { orQuery: { queries: [name("ada"), machine] } } } }])).toEqual(["u-alan", "u-grace", "u-linus"]);
    expect(
      await found([
        { orQuery: { queries: [{ andQuery: { queries: [acme, { metadataKeyFilter: { key: "plan" } }] } }, { metadataKeyFilter: { key: "tier" } }] } },
      ]),
    ).toEqual(["u-ada", "u-alan", "u-grace"]);
  });

  it("NOT is the complement: users without the field match a NOT of a query on it", async () => {
    expect(await found([{ notQuery: { query: { nickNameQuery: { nickName: "enigma" } } } }])).toEqual(["u-ada", "u-bot", "u-grace", "u-linus"]);
    expect(await found([{ notQuery: { query: { notQuery: { query: { nickNameQuery: { nickName: "enigma" } } } } } }])).toEqual(["u-alan"]);
  });

  it("verified e-mail / phone and the preferred login name, as in the GET list", async () => {
    const emailVerified = (isVerified: boolean) => ({ emailVerifiedQuery: { isVerified } });
    expect(await found([emailVerified(true)])).toEqual(["u-ada"]);
    expect(await found([emailVerified(false)])).toEqual(["u-alan", "u-bot", "u-grace", "u-linus"]);
    expect(await found([{ phoneVerifiedQuery: { isVerified: false } }, { notQuery: { query: machine } }])).toEqual(["u-alan", "u-grace", "u-linus"]);
    const preferred = (preferredLoginName: string, method?: string) => ({ preferredLoginNameQuery: { preferredLoginName, ...(method ? { method } : {}) } });
    expect(await found([preferred("ada@acme.com")])).toEqual(["u-ada"]);
    // ZITADEL's default method is case-sensitive; a login name that is not the preferred one never matches.
    expect(await found([preferred("ADA@acme.com")])).toEqual([]);
    expect(await found([preferred("ADA@acme.com", "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE")])).toEqual(["u-ada"]);
    expect(await found([preferred("ada@acme.org")])).toEqual([]);
    // Every acme user's preferred login name is on the org's primary domain (its policy requires one).
    expect(await found([{ orQuery: { queries: [preferred("grace"), preferred("@acme.com", "endsWith")] } }])).toEqual(ALL);
    expect((await search({ queries: [{ emailVerifiedQuery: { isVerified: "yes" } }] })).status).toBe(400);
  });

  it("pages through an OR / NOT search with keyset cursors, and totals on request", async () => {
    const body = {
      queries: [{ orQuery: { queries: [{ notQuery: { query: acme } }, { notQuery: { query: machine } }] } }],
      sortingColumn: "USER_FIELD_NAME_USER_NAME",
      limit: 1,
      withTotal: true,
    };
    for (const [asc, expected] of [
      [true, ["u-ada", "u-alan", "u-grace", "u-linus"]],
      [false, ["u-linus", "u-grace", "u-alan", "u-ada"]],
    ] as const) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: { status: number; body: Page } = await search({ ...body, asc, ...(cursor ? { cursor } : {}) });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.details).toEqual({ totalResult: 4 });
        seen.push(...res.body.result.map((u) => u.id));
        cursor = res.body.nextCursor;
      } while (cursor && seen.length < 10);
      expect(seen).toEqual(expected);
    }
  });

  it("a cursor is only valid with the body's queries, sort and order (withTotal and limit are not filters)", async () => {
    const body = { queries: [{ notQuery: { query: machine } }], sortingColumn: "nickName", limit: 1 };
    const first = await search(body);
    const cursor = first.body.nextCursor;
    expect(cursor).toBeTruthy();
    expect((await search({ ...body, cursor, limit: 2, withTotal: true })).status).toBe(200);
    for (const other of [
      { ...body, queries: [{ notQuery: { query: acme } }] },
      { ...body, queries: [] },
      { ...body, sortingColumn: "USER_FIELD_NAME_EMAIL" },
      { ...body, asc: false },
    ]) {
      const res = await search({ ...other, cursor });
      expect(res.status, JSON.stringify(other)).toBe(400);
      expect(res.body.code).toBe("invalid_cursor");
    }
    // Nor a GET list's cursor, nor another tenant's.
    const list = (await (await t.get("/v1/users?sort=id&limit=1", I)).json()) as Page;
    expect((await search({ limit: 1, cursor: list.nextCursor })).body.code).toBe("invalid_cursor");
    expect((await search({ ...body, cursor }, { instanceId: OTHER })).body.code).toBe("invalid_cursor");
  });

  it("sorts by ZITADEL's sorting columns", async () => {
    const { body } = await search({ sortingColumn: "USER_FIELD_NAME_NICK_NAME", asc: false });
    expect(body.result.map((u) => u.id)).toEqual(["u-alan", "u-ada", "u-grace", "u-linus", "u-bot"]);
  });
});

describe("POST /v1/users/_search: random trees against an oracle", () => {
  // The fixture's users as a model: each random tree must find exactly the users the model says.
  const model: Record<string, { userName: string; org: string; type: string; state: string }> = {
    "u-ada": { userName: "ada", org: "acme", type: "TYPE_HUMAN", state: "USER_STATE_ACTIVE" },
    "u-alan": { userName: "alan", org: "acme", type: "TYPE_HUMAN", state: "USER_STATE_LOCKED" },
    "u-bot": { userName: "deploy-bot", org: "acme", type: "TYPE_MACHINE", state: "USER_STATE_ACTIVE" },
    "u-grace": { userName: "grace", org: "globex", type: "TYPE_HUMAN", state: "USER_STATE_ACTIVE" },
    "u-linus": { userName: "linus", org: "acme", type: "TYPE_HUMAN", state: "USER_STATE_ACTIVE" },
  };
  type Node = Record<string, unknown>;
  const leaf = fc.oneof(
    fc.constantFrom("ada", "alan", "grace", "nobody", "ADA").map((userName) => ({ userNameQuery: { userName } })),
    fc.constantFrom("acme", "globex").map((organizationId) => ({ organizationIdQuery: { organizationId } })),
    fc.constantFrom("TYPE_HUMAN", "TYPE_MACHINE").map((type) => ({ typeQuery: { type } })),
    fc.constantFrom("USER_STATE_ACTIVE", "USER_STATE_LOCKED").map((state) => ({ stateQuery: { state } })),
  );
  const { node } = fc.letrec<{ node: Node }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("node"), { minLength: 1, maxLength: 3 }).map((queries) => ({ andQuery: { queries } })),
      fc.array(tie("node"), { minLength: 1, maxLength: 3 }).map((queries) => ({ orQuery: { queries } })),
      tie("node").map((query) => ({ notQuery: { query } })),
    ),
  }));
  const matches = (n: Node, u: (typeof model)[string]): boolean => {
    const v = Object.values(n)[0] as Record<string, unknown>;
    if ("andQuery" in n) return (v.queries as Node[]).every((c) => matches(c, u));
    if ("orQuery" in n) return (v.queries as Node[]).some((c) => matches(c, u));
    if ("notQuery" in n) return !matches(v.query as Node, u);
    if ("userNameQuery" in n) return u.userName === v.userName;
    if ("organizationIdQuery" in n) return u.org === v.organizationId;
    if ("typeQuery" in n) return u.type === v.type;
    return u.state === v.state;
  };
  const size = (n: Node, d = 0): { depth: number; leaves: number } => {
    const v = Object.values(n)[0] as Record<string, unknown>;
    const kids = "andQuery" in n || "orQuery" in n ? (v.queries as Node[]) : "notQuery" in n ? [v.query as Node] : [];
    if (!kids.length) return { depth: d, leaves: 1 };
    const s = kids.map((k) => size(k, d + 1));
    return { depth: Math.max(...s.map((x) => x.depth)), leaves: s.reduce((a, x) => a + x.leaves, 0) };
  };

  it("finds exactly the users the model matches, or refuses a tree beyond the bounds", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(node, { minLength: 0, maxLength: 3 }), async (queries) => {
        const sizes = queries.map((q) => size(q));
        const within = sizes.every((x) => x.depth <= 5) && sizes.reduce((a, x) => a + x.leaves, 0) <= 50;
        const { status, body } = await search({ queries, limit: 200 });
        if (!within) return void expect(status).toBe(400);
        expect(status, JSON.stringify(body)).toBe(200);
        const expected = Object.keys(model).filter((id) => queries.every((q) => matches(q, model[id] as (typeof model)[string])));
        expect(body.result.map((u) => u.id).sort(), JSON.stringify(queries)).toEqual(expected);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) },
    );
  });
});

describe("POST /v1/users/_search: bounds and errors", () => {
  const leaf = { userNameQuery: { userName: "ada" } };
  const nest = (depth: number): unknown => (depth === 0 ? leaf : { notQuery: { query: nest(depth - 1) } });

  it("accepts 5 levels of nesting and 50 typed queries, refuses more", async () => {
    expect((await search({ queries: [nest(5)] })).status).toBe(200);
    const deep = await search({ queries: [nest(6)] });
    expect(deep.status).toBe(400);
    expect(deep.body).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("at most 5") });
    expect((await search({ queries: [{ orQuery: { queries: Array(50).fill(leaf) } }] })).status).toBe(200);
    const many = await search({ queries: [{ orQuery: { queries: Array(30).fill(leaf) } }, { andQuery: { queries: Array(21).fill(leaf) } }] });
    expect(many.status).toBe(400);
    expect(many.body.message).toContain("at most 50");
  });

  it("a body nested far deeper is a 400 before it is validated", async () => {
    // Built as text: JSON.stringify itself would overflow. 2,000 levels still fit the 64 KiB body limit.
    const res = await search(`{"queries":[${'{"notQuery":{"query":'.repeat(2000)}${JSON.stringify(leaf)}${"}}".repeat(2000)}]}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("nested more than 40 levels") });
  });

  it.each([
    ["unknown query type", { queries: [{ userIdQuery: { userId: "u-ada" } }] }],
    ["two typed queries in one", { queries: [{ ...leaf, typeQuery: { type: "TYPE_HUMAN" } }] }],
    ["an empty query", { queries: [{}] }],
    ["an empty orQuery", { queries: [{ orQuery: { queries: [] } }] }],
    ["an unknown method", { queries: [{ userNameQuery: { userName: "a", method: "TEXT_QUERY_METHOD_REGEX" } }] }],
    ["an unknown field", { queries: [{ userNameQuery: { userName: "a", other: 1 } }] }],
    ["an unknown state", { queries: [{ stateQuery: { state: "USER_STATE_HAPPY" } }] }],
    ["a NUL character", { queries: [{ userNameQuery: { userName: "a\u0000b" } }] }],
    ["an unknown body field", { query: { offset: 0 } }],
    ["an unknown sorting column", { sortingColumn: "password" }],
    ["a limit over 200", { limit: 201 }],
    ["not JSON", "{"],
  ])("400 for %s", async (_what, body) => {
    const res = await search(body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.code).toMatch(/^invalid_/);
  });

  it("LIKE wildcards and quotes in values are matched literally", async () => {
    expect(await found([{ userNameQuery: { userName: "%", method: "contains" } }])).toEqual([]);
    expect(await found([{ userNameQuery: { userName: "_", method: "TEXT_QUERY_METHOD_ENDS_WITH" } }])).toEqual([]);
    expect(await found([{ userNameQuery: { userName: "'; DROP TABLE users; --" } }])).toEqual([]);
    expect(await found([])).toEqual(ALL);
  });
});

describe("POST /v1/users/_search: tenant isolation", () => {
  it("never returns another tenant's users, whatever the tree", async () => {
    expect(await found([{ userNameQuery: { userName: "ada" } }])).toEqual(["u-ada"]);
    expect(await found([{ inUserIdsQuery: { userIds: ["u-eve"] } }])).toEqual([]);
    expect(await found([{ notQuery: { query: { inUserIdsQuery: { userIds: ["u-ada"] } } } }])).toEqual(["u-alan", "u-bot", "u-grace", "u-linus"]);
    expect(await found([], { instanceId: OTHER })).toEqual(["u-eve"]);
    const { body } = await search({ withTotal: true }, { instanceId: OTHER });
    expect(body.details).toEqual({ totalResult: 1 });
  });

  it("an org-restricted token only finds its org's users, and counts only them", async () => {
    expect(await found([], { orgId: "acme" })).toEqual(["u-ada", "u-alan", "u-bot", "u-linus"]);
    expect(await found([{ organizationIdQuery: { organizationId: "globex" } }], { orgId: "acme" })).toEqual([]);
    expect(await found([{ notQuery: { query: { organizationIdQuery: { organizationId: "acme" } } } }], { orgId: "acme" })).toEqual([]);
    expect((await search({ withTotal: true }, { orgId: "acme" })).body.details).toEqual({ totalResult: 4 });
  });
});
