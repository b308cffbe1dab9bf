// A producer in another language, written from the contract files only (test/interop/produce.py: the
// .avsc files and the documented headers, with Debian's librdkafka and Avro packages): its bytes equal
// the TypeScript SDK's for every event type and version, its records land in the same partitions, and a
// history it publishes builds the same read models in every service as the same history published by
// the SDK.

import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as ev from "@idp/events";
import { allEvents, catalog, type Position } from "@idp/events";
import { EventPublisher, type EventToPublish } from "@idp/producer";
import { generateHistory } from "@idp/producer/src/history.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sample } from "../../packages/events/test/sample.ts";
import { dumpTables } from "../support/determinism.ts";
import { kafkaBrokers } from "../support/env.ts";
import { aggregate } from "../support/events.ts";
import type { ProjectionSpec } from "../support/projection-spec.ts";
import { createTopic, startTestService, type TestService, waitForPositions } from "../support/service.ts";
import { allServices } from "../support/services.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const avroDir = `${root}packages/events/avro`;
// Debian's interpreter: the one python3-confluent-kafka and python3-avro are installed for.
const PYTHON = "/usr/bin/python3";
const services = await allServices();

const python = (args: string[], input: unknown): unknown =>
  JSON.parse(
    execFileSync(PYTHON, [`${root}test/interop/produce.py`, ...args], {
      input: JSON.stringify(input, (_k, v) => (v?.type === "Buffer" && Array.isArray(v.data) ? Buffer.from(v.data).toString("base64") : v)),
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      timeout: 90_000,
    }),
  );

beforeAll(() => {
  execFileSync("bash", [`${root}infra/debian-deps.sh`], { stdio: "inherit", timeout: 600_000 });
}, 600_000);

describe("Python producer (confluent-kafka + avro, from the .avsc files)", () => {
  it("encodes every event type and version byte for byte as the TypeScript catalogue", () => {
    const values = allEvents.flatMap((d) => d.versions.map((schema, i) => ({ eventType: d.type, schemaVersion: i + 1, payload: sample(schema) })));
    const encoded = python(["encode", avroDir], values) as string[];
    expect(encoded).toHaveLength(values.length);
    values.forEach((v, i) => {
      const ts = catalog.encode(v.eventType, v.payload, v.schemaVersion).toString("base64");
      expect(encoded[i], `${v.eventType} v${v.schemaVersion}`).toBe(ts);
    });
  });

  describe("publishes a history every service reads as the SDK's", () => {
    const history = interopHistory();
    let positions: { sdk: Position[]; python: Position[] };

    beforeAll(async () => {
      const [sdkTopic, pyTopic] = await Promise.all([createTopic("interop_sdk"), createTopic("interop_py")]);
      const publisher = await EventPublisher.connect({ brokers: kafkaBrokers(), topic: sdkTopic });
      try {
        positions = { sdk: await publisher.publish(history), python: [] };
      } finally {
        await publisher.close();
      }
      positions.python = python(["publish", avroDir, kafkaBrokers().join(","), pyTopic], history.map(forPython)) as Position[];
    });

    it("every record lands in the partition and at the offset the SDK's does (murmur2 partitioner)", () => {
      expect(positions.python).toHaveLength(history.length);
      const where = (ps: Position[]) => ps.map((p) => `${p.partition}:${p.offset}`);
      expect(where(positions.python)).toEqual(where(positions.sdk));
      expect(new Set(positions.sdk.map((p) => p.partition)).size).toBeGreaterThan(1);
    });

    const running: TestService[] = [];
    afterAll(async () => {
      await Promise.all(running.map((t) => t.close()));
    });

    it.each(services.map((s) => [s.name, s] as const))("%s: same read model", async (_name, def) => {
      const [sdk, py] = await Promise.all([
        startTestService(def, { topic: positions.sdk[0]?.topic as string }),
        startTestService(def, { topic: positions.python[0]?.topic as string }),
      ]);
      running.push(sdk, py);
      await Promise.all([
        waitForPositions(sdk.svc.pool, def.projection.name, positions.sdk),
        waitForPositions(py.svc.pool, def.projection.name, positions.python),
      ]);
      const dump = (t: TestService) => dumpTables({ pool: t.svc.pool, schema: t.schema } as ProjectionSpec, "");
      const [a, b] = await Promise.all([dump(sdk), dump(py)]);
      expect(b).toEqual(a);
      // Not two empty models: the history reaches every service, and nothing was parked on either side.
      expect(
        Object.values(a).reduce((n, rows) => n + rows.length, 0),
        "rows",
      ).toBeGreaterThan(0);
      for (const t of [sdk, py]) {
        const { rows } = await t.svc.pool.query("SELECT count(*)::int AS n FROM projector_parked_events");
        expect(rows[0].n, `parked events (${t.topic})`).toBe(0);
      }
      await Promise.all([sdk.close(), py.close()]);
      running.splice(running.indexOf(sdk), 1);
      running.splice(running.indexOf(py), 1);
    });
  });
});

/** The envelope written out in full, so both producers send the same event ids, times and versions. */
function forPython(e: EventToPublish) {
  return {
    eventId: e.eventId,
    eventType: e.eventType,
    schemaVersion: e.schemaVersion,
    instanceId: e.instanceId,
    aggregateType: e.aggregateType,
    aggregateId: e.aggregateId,
    aggregateSequence: e.aggregateSequence,
    resourceOwner: e.resourceOwner,
    creator: e.creator,
    createdAtMs: e.createdAt?.getTime(),
    payload: e.payload,
  };
}

/**
 * Users, orgs and domains from the demo generator, plus per instance a user living through every other
 * service's events: auth methods, PATs (one under its older alias), lockout policies, a project with
 * roles and a grant, user grants, and a session with metadata (Avro bytes). One user is written with
 * schema version 1 of user.human.added.
 */
function interopHistory(): EventToPublish[] {
  const out: EventToPublish[] = generateHistory({ seed: 16, instances: 2, orgsPerInstance: 2, usersPerOrg: 3, orgRemovalRate: 0.3, prefix: "interop-" });
  const T0 = Date.parse("2026-03-01T10:00:00Z");
  for (const inst of ["interop-x1", "interop-x2", "interop-x3"]) {
    const org = `${inst}-org`;
    const ada = aggregate(inst, `${inst}-ada`, org, T0);
    const bob = aggregate(inst, `${inst}-bob`, org, T0 + 1_000);
    const instance = aggregate(inst, inst, inst, T0 + 2_000);
    const orgAgg = aggregate(inst, org, org, T0 + 3_000);
    const project = aggregate(inst, `${inst}-project`, org, T0 + 4_000);
    const grant1 = aggregate(inst, `${inst}-grant-1`, org, T0 + 5_000);
    const grant2 = aggregate(inst, `${inst}-grant-2`, org, T0 + 6_000);
    const session = aggregate(inst, `${inst}-session`, inst, T0 + 7_000);
    const human = { userName: "ada", firstName: "Ada", lastName: "Lovelace", email: "ada@example.com", changeRequired: false } as const;
    out.push(
      ada(ev.userHumanAdded, { ...human, encodedHash: "$argon2id$v=19$hash" }),
      { ...bob(ev.userHumanAdded, { ...human, userName: "bob", firstName: "Bob" }), schemaVersion: 1 },
      ada(ev.userHumanMfaOtpAdded, {}),
      ada(ev.userHumanMfaOtpVerified, {}),
      ada(ev.userHumanMfaOtpEmailAdded, {}),
      ada(ev.userHumanPasswordlessTokenAdded, { webAuthNTokenId: "pk-1", rpID: "example.com" }),
      ada(ev.userHumanPasswordlessTokenVerified, { webAuthNTokenId: "pk-1", keyId: Buffer.from([1, 2, 250]), signCount: 1, webAuthNTokenName: "laptop" }),
      ada(ev.userHumanPasswordlessTokenSignCountChanged, { webAuthNTokenId: "pk-1", signCount: 3 }),
      ada(ev.userHumanU2fTokenAdded, { webAuthNTokenId: "u2f-1" }),
      ada(ev.userHumanU2fTokenRemoved, { webAuthNTokenId: "u2f-1" }),
      ada(ev.userPatAdded, { tokenId: "pat-1", expiration: Date.parse("9999-12-31T23:59:59Z"), scopes: ["openid", "profile"] }),
      { ...ada(ev.userPatAdded, { tokenId: "pat-2", expiration: T0 + 86_400_000 }), eventType: "user.personal.access.token.added" },
      ada(ev.userPatRemoved, { tokenId: "pat-1" }),
      instance(ev.instanceLockoutPolicyAdded, { maxPasswordAttempts: 5, maxOTPAttempts: 3, showLockOutFailures: true }),
      instance(ev.instanceLockoutPolicyChanged, { maxPasswordAttempts: 7 }),
      orgAgg(ev.orgLockoutPolicyAdded, { maxPasswordAttempts: 2, showLockOutFailures: false }),
      orgAgg(ev.orgLockoutPolicyChanged, { showLockOutFailures: true }),
      project(ev.projectAdded, {}),
      project(ev.projectRoleAdded, { key: "admin" }),
      project(ev.projectRoleAdded, { key: "viewer" }),
      project(ev.projectGrantAdded, { grantId: `${inst}-pg`, grantedOrgId: `${inst}-other-org`, roleKeys: ["viewer"] }),
      grant1(ev.userGrantAdded, { userId: `${inst}-ada`, projectId: `${inst}-project`, roleKeys: ["admin", "viewer"] }),
      grant1(ev.userGrantChanged, { roleKeys: ["viewer"] }),
      grant2(ev.userGrantAdded, { userId: `${inst}-bob`, projectId: `${inst}-project`, grantId: `${inst}-pg`, roleKeys: ["viewer"] }),
      grant2(ev.userGrantDeactivated, {}),
      session(ev.sessionAdded, { user_agent: { fingerprint_id: "fp-1", ip: "192.0.2.1", header: { "user-agent": ["curl/8"] } } }),
      session(ev.sessionUserChecked, { userID: `${inst}-ada`, userResourceOwner: org, checkedAt: T0 + 8_000 }),
      session(ev.sessionPasswordChecked, { checkedAt: T0 + 9_000 }),
      session(ev.sessionTokenSet, { tokenID: "token-1" }),
      session(ev.sessionMetadataSet, { metadata: { theme: Buffer.from("dark"), raw: Buffer.from([0, 255, 7]) } }),
      session(ev.sessionLifetimeSet, { lifetime: 3_600_000_000_000 }),
    );
  }
  return out.map((e, i) => ({
    ...e,
    eventId: `interop-${i}`,
    schemaVersion: e.schemaVersion ?? catalog.latestVersion(e.eventType),
    aggregateType: e.aggregateType ?? catalog.definition(e.eventType).aggregateType,
    creator: e.creator ?? "",
  }));
}
