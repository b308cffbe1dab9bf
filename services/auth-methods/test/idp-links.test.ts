// Projection specs of IdP user links: given events, then the expected idp_user_links rows, against real
// PostgreSQL (add, remove, cascade remove, id migration, the short aliases, and the user, IdP config, org and instance
// cascades).
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregate } from "../../../test/support/events.ts";
import { type ProjectionSpec, projectionSpec } from "../../../test/support/projection-spec.ts";
import { authMethodsService } from "../src/index.ts";

let spec: ProjectionSpec;
beforeAll(async () => {
  spec = await projectionSpec(authMethodsService);
});
afterAll(async () => spec?.close());

let n = 0;
/** A fresh user per test, so the tests share one schema without interfering. */
const fresh = (instance = "i1", org = "o1") => {
  const id = `lu${++n}`;
  const u = aggregate(instance, id, org);
  return { id, u, added: u(ev.userHumanAdded, { userName: id, firstName: "F", lastName: "L", email: "f@x.com", changeRequired: false }) };
};
const T0 = Date.parse("2026-03-01T10:00:00Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000);

const links = async (userId: string, instance = "i1") =>
  (await spec.pool.query("SELECT * FROM idp_user_links WHERE instance_id = $1 AND user_id = $2 ORDER BY idp_id, external_user_id", [instance, userId])).rows;
const link = (idpConfigId: string, userId: string, displayName?: string) => ({ idpConfigId, userId, ...(displayName ? { displayName } : {}) });

describe("IdP user links projection", () => {
  it("user.human.externalidp.added creates a link keyed by (IdP, external user id)", async () => {
    const { id, u, added } = fresh();
    await spec.given(added, u(ev.userIdpLinkAdded, link("idp-google", "g-123", "Ada L.")), u(ev.userIdpLinkAdded, link("idp-github", "gh-9")));
    expect(await links(id)).toEqual([
      {
        instance_id: "i1",
        idp_id: "idp-github",
        external_user_id: "gh-9",
        user_id: id,
        resource_owner: "o1",
        creation_date: at(3),
        change_date: at(3),
        sequence: 3,
        display_name: null,
      },
      {
        instance_id: "i1",
        idp_id: "idp-google",
        external_user_id: "g-123",
        user_id: id,
        resource_owner: "o1",
        creation_date: at(2),
        change_date: at(2),
        sequence: 2,
        display_name: "Ada L.",
      },
    ]);
  });

  it("removed and cascade.removed delete the one link they name", async () => {
    const { id, u, added } = fresh();
    await spec.given(
      added,
      u(ev.userIdpLinkAdded, link("idp-a", "x1")),
      u(ev.userIdpLinkAdded, link("idp-b", "x2")),
      u(ev.userIdpLinkAdded, link("idp-c", "x3")),
      u(ev.userIdpLinkRemoved, { idpConfigId: "idp-a", userId: "x1" }),
      u(ev.userIdpLinkCascadeRemoved, { idpConfigId: "idp-b", userId: "x2" }),
      u(ev.userIdpLinkRemoved, { idpConfigId: "idp-c", userId: "other-external-id" }),
    );
    expect((await links(id)).map((r) => r.idp_id)).toEqual(["idp-c"]);
  });

  it("the user.idp.link.* aliases are read as the same events", async () => {
    const { id, u, added } = fresh();
    const as = (e: EventToPublish, alias: string): EventToPublish => ({ ...e, eventType: alias });
    await spec.given(
      added,
      as(u(ev.userIdpLinkAdded, link("idp-a", `${id}-x1`)), "user.idp.link.added"),
      as(u(ev.userIdpLinkAdded, link("idp-b", `${id}-x2`)), "user.idp.link.added"),
      as(u(ev.userIdpLinkAdded, link("idp-c", `${id}-x3`)), "user.idp.link.added"),
      as(u(ev.userIdpLinkRemoved, link("idp-a", `${id}-x1`)), "user.idp.link.removed"),
      as(u(ev.userIdpLinkCascadeRemoved, link("idp-b", `${id}-x2`)), "user.idp.link.cascade.removed"),
    );
    expect((await links(id)).map((r) => r.idp_id)).toEqual(["idp-c"]);
  });

  it("a link held by one user is neither taken over nor removed by another user's events", async () => {
    const owner = fresh();
    const other = fresh();
    await spec.given(owner.added, other.added, owner.u(ev.userIdpLinkAdded, link("idp-a", "shared")));
    await spec.given(other.u(ev.userIdpLinkAdded, link("idp-a", "shared")), other.u(ev.userIdpLinkRemoved, link("idp-a", "shared")));
    expect(await links(owner.id)).toHaveLength(1);
    expect(await links(other.id)).toEqual([]);
  });

  it("re-adding a removed link starts a new creation date", async () => {
    const { id, u, added } = fresh();
    await spec.given(
      added,
      u(ev.userIdpLinkAdded, link("idp-a", "x1")),
      u(ev.userIdpLinkRemoved, link("idp-a", "x1")),
      u(ev.userIdpLinkAdded, link("idp-a", "x1", "again")),
    );
    expect(await links(id)).toMatchObject([{ creation_date: at(4), sequence: 4, display_name: "again" }]);
  });

  it("user.human.externalidp.id.migrated moves the link to the new external id, keeping its creation date", async () => {
    const { id, u, added } = fresh();
    await spec.given(added, u(ev.userIdpLinkAdded, link("idp-a", `${id}-old`, "Ada")), u(ev.userIdpLinkAdded, link("idp-b", `${id}-old`)));
    await spec.given(u(ev.userIdpLinkIdMigrated, { idpConfigId: "idp-a", previousId: `${id}-old`, newId: `${id}-new` }));
    expect((await links(id)).map((r) => [r.idp_id, r.external_user_id, r.display_name, r.creation_date, r.change_date, r.sequence])).toEqual([
      ["idp-a", `${id}-new`, "Ada", at(2), at(4), 4],
      ["idp-b", `${id}-old`, null, at(3), at(3), 3],
    ]);
  });

  it("an id migration onto a key another link holds, or of another user's link, changes nothing", async () => {
    const owner = fresh();
    const other = fresh();
    await spec.given(
      owner.added,
      other.added,
      owner.u(ev.userIdpLinkAdded, link("idp-a", `${owner.id}-1`)),
      owner.u(ev.userIdpLinkAdded, link("idp-a", `${owner.id}-2`)),
      owner.u(ev.userIdpLinkIdMigrated, { idpConfigId: "idp-a", previousId: `${owner.id}-1`, newId: `${owner.id}-2` }),
      other.u(ev.userIdpLinkIdMigrated, { idpConfigId: "idp-a", previousId: `${owner.id}-1`, newId: `${other.id}-x` }),
    );
    expect((await links(owner.id)).map((r) => r.external_user_id)).toEqual([`${owner.id}-1`, `${owner.id}-2`]);
    expect(await links(other.id)).toEqual([]);
  });

  it("user.removed deletes the user's links (and no other user's)", async () => {
    const gone = fresh();
    const kept = fresh();
    await spec.given(gone.added, kept.added, gone.u(ev.userIdpLinkAdded, link("idp-a", "g1")), kept.u(ev.userIdpLinkAdded, link("idp-a", "k1")));
    await spec.given(gone.u(ev.userRemoved, {}));
    expect(await links(gone.id)).toEqual([]);
    expect(await links(kept.id)).toHaveLength(1);
  });

  it.each([
    ["org.idp.config.removed", (org: string) => aggregate("i1", org, org)(ev.orgIdpConfigRemoved, { idpConfigId: "idp-org" })],
    ["org.idp.removed", (org: string) => aggregate("i1", org, org)(ev.orgIdpRemoved, { id: "idp-org" })],
  ] as const)("%s deletes the links of the org's users to that IdP only", async (_name, removal) => {
    const org = `org-${++n}`;
    const inOrg = fresh("i1", org);
    const otherOrg = fresh("i1", `${org}-b`);
    await spec.given(
      inOrg.added,
      otherOrg.added,
      inOrg.u(ev.userIdpLinkAdded, link("idp-org", `${inOrg.id}-x`)),
      inOrg.u(ev.userIdpLinkAdded, link("idp-other", `${inOrg.id}-y`)),
      otherOrg.u(ev.userIdpLinkAdded, link("idp-org", `${otherOrg.id}-x`)),
    );
    await spec.given(removal(org));
    expect((await links(inOrg.id)).map((r) => r.idp_id)).toEqual(["idp-other"]);
    expect((await links(otherOrg.id)).map((r) => r.idp_id)).toEqual(["idp-org"]);
  });

  it.each([
    ["instance.idp.config.removed", (inst: string) => aggregate(inst, inst, inst)(ev.instanceIdpConfigRemoved, { idpConfigId: "idp-shared" })],
    ["instance.idp.removed", (inst: string) => aggregate(inst, inst, inst)(ev.instanceIdpRemoved, { id: "idp-shared" })],
  ] as const)("%s deletes every link to that IdP in the instance, in every org", async (_name, removal) => {
    const inst = `i-idp-${++n}`;
    const a = fresh(inst, "oa");
    const b = fresh(inst, "ob");
    const otherInstance = fresh("i1", "oa");
    await spec.given(
      a.added,
      b.added,
      otherInstance.added,
      a.u(ev.userIdpLinkAdded, link("idp-shared", "a1")),
      b.u(ev.userIdpLinkAdded, link("idp-shared", "b1")),
      b.u(ev.userIdpLinkAdded, link("idp-own", "b2")),
      otherInstance.u(ev.userIdpLinkAdded, link("idp-shared", `${otherInstance.id}-c1`)),
    );
    await spec.given(removal(inst));
    expect(await links(a.id, inst)).toEqual([]);
    expect((await links(b.id, inst)).map((r) => r.idp_id)).toEqual(["idp-own"]);
    expect(await links(otherInstance.id)).toHaveLength(1);
  });

  it("org.removed deletes the org's links; a late add for the removed org is skipped", async () => {
    const org = `org-${++n}`;
    const inOrg = fresh("i1", org);
    const elsewhere = fresh("i1", `${org}-kept`);
    await spec.given(
      inOrg.added,
      elsewhere.added,
      inOrg.u(ev.userIdpLinkAdded, link("idp-a", `${inOrg.id}-1`)),
      elsewhere.u(ev.userIdpLinkAdded, link("idp-a", `${elsewhere.id}-1`)),
    );
    await spec.given(aggregate("i1", org, org)(ev.orgRemoved, {}));
    expect(await links(inOrg.id)).toEqual([]);
    expect(await links(elsewhere.id)).toHaveLength(1);
    await spec.given(inOrg.u(ev.userIdpLinkAdded, link("idp-late", `${inOrg.id}-2`)));
    expect(await links(inOrg.id)).toEqual([]);
  });

  it("instance.removed deletes the instance's links; a late add in it is skipped", async () => {
    const inst = `i-gone-${++n}`;
    const gone = fresh(inst, "o1");
    const kept = fresh("i1", "o1");
    await spec.given(gone.added, kept.added, gone.u(ev.userIdpLinkAdded, link("idp-a", "g1")), kept.u(ev.userIdpLinkAdded, link("idp-a", `${kept.id}-k1`)));
    await spec.given(aggregate(inst, inst, inst)(ev.instanceRemoved, {}));
    expect(await links(gone.id, inst)).toEqual([]);
    expect(await links(kept.id)).toHaveLength(1);
    await spec.given(gone.u(ev.userIdpLinkAdded, link("idp-late", "g2")));
    expect(await links(gone.id, inst)).toEqual([]);
  });
});
