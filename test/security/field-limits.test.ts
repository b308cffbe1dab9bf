// Producers cannot write what cannot be stored. The SDK refuses values beyond the contract's field
// limits (a 900 KB displayName, an empty userName) with an error naming the field and the limit; values
// at the limits, in multi-byte characters, are applied and indexed; and an oversize value that still
// arrives (a producer that bypassed the SDK) is parked with a message naming the field and the limit,
// not a PostgreSQL index error.
import * as ev from "@idp/events";
import { type EventToPublish, encodeEvent } from "@idp/producer";
import { KafkaJsProducer } from "@idp/runtime";
import avro from "avsc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authMethodsService } from "../../services/auth-methods/src/index.ts";
import { grantsService } from "../../services/grants/src/index.ts";
import { patsService } from "../../services/pats/src/index.ts";
import { sessionsService } from "../../services/sessions/src/index.ts";
import { usersService } from "../../services/users/src/index.ts";
import { adminCall } from "../support/admin.ts";
import { kafkaBrokers } from "../support/env.ts";
import { aggregate } from "../support/events.ts";
import { startTestService, type TestService, waitForPositions } from "../support/service.ts";

const human = (userName: string) => ({ userName, firstName: "F", lastName: "L", email: `${userName}@x.example`, changeRequired: false });
// U+1E9E: three bytes in UTF-8, and lower() maps it to a two-byte letter; a btree entry of 200 of them
// per column stays far below PostgreSQL's limit (about 2.7 KB).
const wide = (n: number) => "\u1e9e".repeat(n);

describe("the producer SDK", () => {
  const u = aggregate("fl-inst", "u1", "org");

  it("refuses a 900 KB displayName, naming the field and the limit", () => {
    const e = u(ev.userHumanAdded, { ...human("big"), displayName: "x".repeat(900 * 1024) });
    expect(() => encodeEvent(e)).toThrow(ev.PayloadValidationError);
    expect(() => encodeEvent(e)).toThrow(/displayName: .*200/);
  });

  it("refuses an empty userName, in every event that sets one", () => {
    expect(() => encodeEvent(u(ev.userHumanAdded, human("")))).toThrow(/userName: .*1/);
    expect(() => encodeEvent(u(ev.userUsernameChanged, { userName: "" }))).toThrow(/userName/);
    expect(() => encodeEvent(u(ev.userMachineAdded, { userName: "", name: "m" }))).toThrow(/userName/);
  });

  it("refuses oversize names, e-mail, phone and ids, and accepts values at the limits", () => {
    expect(() => encodeEvent(u(ev.userHumanAdded, { ...human("a"), email: `${"e".repeat(200)}@x` }))).toThrow(/email/);
    expect(() => encodeEvent(u(ev.userHumanAdded, { ...human("a"), firstName: "f".repeat(201) }))).toThrow(/firstName/);
    expect(() => encodeEvent(u(ev.userHumanPhoneChanged, { phone: "1".repeat(201) }))).toThrow(/phone/);
    expect(() => encodeEvent(u(ev.userHumanU2fTokenAdded, { webAuthNTokenId: "t".repeat(201) }))).toThrow(/webAuthNTokenId/);
    expect(() =>
      encodeEvent(u(ev.userHumanAdded, { ...human(wide(200)), email: `${wide(190)}@x.example`, displayName: wide(200), nickName: wide(200) })),
    ).not.toThrow();
  });
});

describe("the read models", () => {
  let users: TestService;
  let methods: TestService;
  let others: TestService[] = [];
  let foreign: KafkaJsProducer;
  beforeAll(async () => {
    users = await startTestService(usersService, { env: { MAX_ATTEMPTS: "2" } });
    methods = await startTestService(authMethodsService, { topic: users.topic });
    others = [
      await startTestService(sessionsService, { topic: users.topic }),
      await startTestService(grantsService, { topic: users.topic }),
      await startTestService(patsService, { topic: users.topic }),
    ];
    foreign = new KafkaJsProducer({ brokers: kafkaBrokers(), clientId: "foreign-producer" });
    await foreign.connect();
  });
  afterAll(async () => {
    await foreign?.disconnect();
    for (const o of others) await o.close();
    await methods?.close();
    await users?.close();
  });

  it("store and index every value the contract allows (values at the limits, three-byte characters)", async () => {
    const inst = "fl-max";
    const u = aggregate(inst, "u-max", "org");
    const email = `${wide(190)}@x.example`;
    const positions = await users.publisher.publish([
      u(ev.userHumanAdded, { ...human(wide(200)), email, displayName: wide(200), nickName: wide(200), firstName: wide(200), lastName: wide(200) }),
      u(ev.userHumanPasswordlessTokenAdded, { webAuthNTokenId: wide(200), rpID: wide(200) }),
    ]);
    await waitForPositions(users.svc.pool, "users", positions);
    await waitForPositions(methods.svc.pool, "auth_methods", positions);
    const row = (await users.svc.pool.query("SELECT username, display_name, email FROM users WHERE instance_id = $1", [inst])).rows[0];
    expect(row).toEqual({ username: wide(200), display_name: wide(200), email });
    const tokens = (await methods.svc.pool.query("SELECT token_id FROM user_auth_methods WHERE instance_id = $1", [inst])).rows;
    expect(tokens).toEqual([{ token_id: wide(200) }]);
    expect((await adminCall(users.url, "GET", `/parked?instanceId=${inst}`)).json.result).toEqual([]);
  });

  it("every service stores the indexed ids, keys and role lists at their limits", async () => {
    const inst = "fl-ids";
    const id = wide(200);
    const session = aggregate(inst, "s-max", inst);
    const positions = await users.publisher.publish([
      session(ev.sessionAdded, { user_agent: { fingerprint_id: id, ip: wide(100), description: wide(500), header: { "user-agent": [wide(4096)] } } }),
      session(ev.sessionUserChecked, { userID: id, userResourceOwner: id, checkedAt: Date.now() }),
      aggregate(
        inst,
        "p-max",
        "org",
      )(ev.projectGrantAdded, { grantId: id, grantedOrgId: id, roleKeys: Array.from({ length: 50 }, (_, i) => `${String(i).padStart(2, "0")}${wide(198)}`) }),
      aggregate(
        inst,
        "g-max",
        "org",
      )(ev.userGrantAdded, {
        userId: id,
        projectId: id,
        grantId: id,
        roleKeys: Array.from({ length: 50 }, (_, i) => `${String(i).padStart(2, "0")}${wide(198)}`),
      }),
      aggregate(inst, "u-pat", "org")(ev.userPatAdded, { tokenId: id, expiration: Date.parse("9999-12-31T00:00:00Z"), scopes: [wide(200)] }),
    ]);
    // Each of these services names its projection after itself.
    for (const o of others) await waitForPositions(o.svc.pool, o.svc.config.service, positions);
    for (const o of others) {
      const parked = await o.svc.pool.query("SELECT error FROM projector_parked_events");
      expect([o.svc.config.service, parked.rows]).toEqual([o.svc.config.service, []]);
    }
  });

  it("park an oversize value from a producer that bypassed the SDK, naming the field and the limit", async () => {
    const inst = "fl-foreign";
    const u = aggregate(inst, "u-big", "org");
    const v = aggregate(inst, "u-empty", "org");
    // Encoded with the plain Avro schema: the wire format allows any length, only the contract does not.
    const raw = (e: EventToPublish) => {
      const valid = encodeEvent({ ...e, payload: human("placeholder") });
      return {
        ...valid,
        value: avro.Type.forSchema(ev.userHumanAdded.versions.at(-1) as unknown as avro.Schema).toBuffer({ ...human("x"), ...e.payload, encodedHash: null }),
      };
    };
    const big = u(ev.userHumanAdded, { ...human("big"), displayName: "x".repeat(900 * 1024) });
    const empty = v(ev.userHumanAdded, human(""));
    const positions = await foreign.send(users.topic, [raw(big), raw(empty)]);
    await waitForPositions(users.svc.pool, "users", positions);
    const parked = (await adminCall(users.url, "GET", `/parked?instanceId=${inst}`)).json.result as { aggregate_id: string; error: string }[];
    const byId = Object.fromEntries(parked.map((p) => [p.aggregate_id, p.error]));
    expect(byId["u-big"]).toMatch(/displayName is 921600 characters long; at most 200 are allowed/);
    expect(byId["u-empty"]).toMatch(/userName is empty; at least 1 required/);
    for (const e of Object.values(byId)) expect(e).not.toMatch(/index row|bytes/);
    expect((await users.svc.pool.query("SELECT count(*)::int AS n FROM users WHERE instance_id = $1", [inst])).rows[0].n).toBe(0);
  });
});
