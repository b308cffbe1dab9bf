// Random valid grant histories for property tests. A history is a list of random intents interpreted
// against a small model of instances, orgs, users, projects, project roles, project grants and user
// grants: an intent that is not valid in the current state (for example a grant for a removed user) is
// dropped, so every emitted stream is one a producer could write. The model also says which grants
// must exist at the end, computed independently of the projection.
import * as ev from "@idp/events";
import type { EventToPublish } from "@idp/producer";
import fc from "fast-check";
import { aggregate } from "../../../test/support/events.ts";

const ROLES = ["admin", "editor", "viewer", "auditor"];
// Intent kinds with their weights: creations dominate so that histories grow before removals prune them.
const WEIGHTS = {
  addOrg: 2,
  addUser: 6,
  renameUser: 2,
  renameOrgOrProject: 2,
  changeUserDetails: 2,
  orgDomain: 2,
  domainPolicy: 2,
  removeUser: 1,
  addProject: 4,
  addRole: 2,
  removeRole: 2,
  addProjectGrant: 3,
  changeProjectGrant: 2,
  removeProjectGrant: 1,
  removeProject: 1,
  addGrant: 10,
  changeGrant: 3,
  deactivateGrant: 2,
  reactivateGrant: 2,
  removeGrant: 2,
  removeOrg: 1,
  removeInstance: 0.1,
} as const;
type Kind = keyof typeof WEIGHTS;

export interface Intent {
  kind: Kind;
  instance: number;
  a: number;
  b: number;
  c: number;
  roles: string[];
  flag: boolean;
}

type Emit = ReturnType<typeof aggregate>;
interface Project {
  id: string;
  org: string;
  roles: string[];
  agg: Emit;
}
interface ProjectGrant {
  id: string;
  project: Project;
  grantedOrg: string;
  roles: string[];
}
interface UserGrant {
  id: string;
  user: string;
  project: Project;
  pg?: ProjectGrant;
  roles: string[];
  active: boolean;
  agg: Emit;
}

/** What the model says the read model must hold for one grant at the end of the history. */
export interface ExpectedGrant {
  instance_id: string;
  id: string;
  user_id: string;
  project_id: string;
  grant_id: string;
  roles: string[];
  state: number;
}

export function interpret(intents: Intent[], instancePrefix = ""): { events: EventToPublish[]; expected: ExpectedGrant[] } {
  const out: EventToPublish[] = [];
  const instances = [`${instancePrefix}i1`, `${instancePrefix}i2`].map((inst) => ({
    inst,
    alive: true,
    orgs: [] as string[],
    orgAggs: new Map<string, Emit>(),
    users: [] as { id: string; org: string; human: boolean; agg: Emit }[],
    instanceAgg: aggregate(inst, inst, inst),
    policies: new Set<string>(),
    projects: [] as Project[],
    pgs: [] as ProjectGrant[],
    grants: [] as UserGrant[],
    n: 0,
  }));
  const pick = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);
  const within = (roles: string[], allowed: string[]) => roles.filter((r) => allowed.includes(r));

  for (const it of intents) {
    const s = instances[it.instance % instances.length];
    if (!s?.alive) continue;
    const next = (p: string) => `${p}${++s.n}`;
    const dropGrants = (dead: (g: UserGrant) => boolean) => {
      s.grants = s.grants.filter((g) => !dead(g));
    };
    switch (it.kind) {
      case "addOrg": {
        const org = next("org");
        s.orgs.push(org);
        s.orgAggs.set(org, aggregate(s.inst, org, org));
        out.push((s.orgAggs.get(org) as Emit)(ev.orgAdded, { name: `Org ${org}` }));
        break;
      }
      case "addUser": {
        const org = pick(s.orgs, it.a);
        if (!org) break;
        const id = next("user");
        const agg = aggregate(s.inst, id, org);
        s.users.push({ id, org, human: !it.flag, agg });
        out.push(
          it.flag
            ? agg(ev.userMachineAdded, { userName: id, name: `Machine ${id}` })
            : agg(ev.userHumanAdded, { userName: id, firstName: "F", lastName: "L", displayName: `Human ${id}`, email: `${id}@x.org`, changeRequired: false }),
        );
        break;
      }
      case "renameUser": {
        const u = pick(s.users, it.a);
        if (!u) break;
        out.push(it.flag ? u.agg(ev.userUsernameChanged, { userName: `${u.id}-${it.b}` }) : u.agg(ev.userHumanProfileChanged, { displayName: `Name ${it.b}` }));
        break;
      }
      case "renameOrgOrProject": {
        const org = it.flag ? pick(s.orgs, it.a) : undefined;
        const p = it.flag ? undefined : pick(s.projects, it.a);
        if (org) out.push((s.orgAggs.get(org) as Emit)(ev.orgChanged, { name: `Org ${it.b}` }));
        if (p) out.push(p.agg(ev.projectChanged, it.c % 2 ? { name: `Project ${it.b}` } : {}));
        break;
      }
      // Names, e-mail and avatar of a human (what grants show of their user).
      case "changeUserDetails": {
        const u = pick(
          s.users.filter((x) => x.human),
          it.a,
        );
        if (!u) break;
        const change = [
          () => u.agg(ev.userHumanProfileChanged, { firstName: `F${it.b}`, lastName: it.flag ? `L${it.b}` : null }),
          () => u.agg(ev.userHumanEmailChanged, { email: `${u.id}-${it.b}@x.org` }),
          () => (it.flag ? u.agg(ev.userHumanAvatarAdded, { storeKey: `avatar-${it.b}` }) : u.agg(ev.userHumanAvatarRemoved, {})),
        ][it.c % 3] as () => EventToPublish;
        out.push(change());
        break;
      }
      // The login-name inputs: an org's verified and primary domains.
      case "orgDomain": {
        const org = pick(s.orgs, it.a);
        if (!org) break;
        const o = s.orgAggs.get(org) as Emit;
        const domain = `d${it.b % 3}.${org}.example`;
        const events = [ev.orgDomainVerified, ev.orgDomainPrimarySet, ev.orgDomainRemoved];
        out.push(o(events[it.c % 3] as (typeof events)[number], { domain }));
        break;
      }
      // Domain policies of an org (added, changed, removed) or the instance default (added, then changed).
      case "domainPolicy": {
        const org = it.c % 3 === 0 ? s.inst : pick(s.orgs, it.a);
        if (!org) break;
        const agg = org === s.inst ? s.instanceAgg : (s.orgAggs.get(org) as Emit);
        const exists = s.policies.has(org);
        if (!exists) {
          out.push(agg(org === s.inst ? ev.instanceDomainPolicyAdded : ev.orgDomainPolicyAdded, { userLoginMustBeDomain: it.flag }));
          s.policies.add(org);
        } else if (org !== s.inst && it.b % 3 === 0) {
          out.push(agg(ev.orgDomainPolicyRemoved, {}));
          s.policies.delete(org);
        } else {
          out.push(agg(org === s.inst ? ev.instanceDomainPolicyChanged : ev.orgDomainPolicyChanged, { userLoginMustBeDomain: it.flag }));
        }
        break;
      }
      case "removeUser": {
        const u = pick(s.users, it.a);
        if (!u) break;
        // ZITADEL removes the user's grants by cascade events in the same push; sometimes omit them.
        if (it.flag) for (const g of s.grants.filter((g) => g.user === u.id)) out.push(g.agg(ev.userGrantCascadeRemoved, {}));
        out.push(u.agg(ev.userRemoved, {}));
        s.users = s.users.filter((x) => x !== u);
        dropGrants((g) => g.user === u.id);
        break;
      }
      case "addProject": {
        const org = pick(s.orgs, it.a);
        if (!org) break;
        const id = next("proj");
        const p: Project = { id, org, roles: [...it.roles], agg: aggregate(s.inst, id, org) };
        out.push(p.agg(ev.projectAdded, it.flag ? { name: `Project ${id}` } : {}));
        for (const r of p.roles) out.push(p.agg(ev.projectRoleAdded, { key: r }));
        s.projects.push(p);
        break;
      }
      case "addRole": {
        const p = pick(s.projects, it.a);
        const role = pick(
          ROLES.filter((r) => p && !p.roles.includes(r)),
          it.b,
        );
        if (!p || !role) break;
        p.roles.push(role);
        out.push(p.agg(ev.projectRoleAdded, { key: role }));
        break;
      }
      case "removeRole": {
        const p = pick(s.projects, it.a);
        const role = pick(p?.roles ?? [], it.b);
        if (!p || !role) break;
        p.roles = p.roles.filter((r) => r !== role);
        out.push(p.agg(ev.projectRoleRemoved, { key: role }));
        for (const pg of s.pgs.filter((x) => x.project === p && x.roles.includes(role))) {
          pg.roles = pg.roles.filter((r) => r !== role);
          if (it.flag) out.push(p.agg(ev.projectGrantCascadeChanged, { grantId: pg.id, roleKeys: pg.roles }));
        }
        for (const g of s.grants.filter((x) => x.project === p && x.roles.includes(role))) {
          g.roles = g.roles.filter((r) => r !== role);
          if (it.flag) out.push(g.agg(ev.userGrantCascadeChanged, { roleKeys: g.roles }));
        }
        break;
      }
      case "addProjectGrant": {
        const p = pick(s.projects, it.a);
        const org = pick(
          s.orgs.filter((o) => o !== p?.org),
          it.b,
        );
        if (!p || !org) break;
        const pg: ProjectGrant = { id: next("pg"), project: p, grantedOrg: org, roles: within(it.roles, p.roles) };
        s.pgs.push(pg);
        out.push(p.agg(ev.projectGrantAdded, { grantId: pg.id, grantedOrgId: org, roleKeys: pg.roles }));
        break;
      }
      case "changeProjectGrant": {
        const pg = pick(s.pgs, it.a);
        if (!pg) break;
        pg.roles = within(it.roles, pg.project.roles);
        out.push(pg.project.agg(it.flag ? ev.projectGrantCascadeChanged : ev.projectGrantChanged, { grantId: pg.id, roleKeys: pg.roles }));
        for (const g of s.grants.filter((x) => x.pg === pg)) g.roles = within(g.roles, pg.roles);
        break;
      }
      case "removeProjectGrant": {
        const pg = pick(s.pgs, it.a);
        if (!pg) break;
        out.push(pg.project.agg(ev.projectGrantRemoved, { grantId: pg.id }));
        s.pgs = s.pgs.filter((x) => x !== pg);
        dropGrants((g) => g.pg === pg);
        break;
      }
      case "removeProject": {
        const p = pick(s.projects, it.a);
        if (!p) break;
        out.push(p.agg(ev.projectRemoved, {}));
        s.projects = s.projects.filter((x) => x !== p);
        s.pgs = s.pgs.filter((x) => x.project !== p);
        dropGrants((g) => g.project === p);
        break;
      }
      case "addGrant": {
        const u = pick(s.users, it.a);
        const p = pick(s.projects, it.b);
        if (!u || !p) break;
        const pg = it.flag
          ? pick(
              s.pgs.filter((x) => x.project === p),
              it.c,
            )
          : undefined;
        const owner = pg ? pg.grantedOrg : p.org;
        const id = next("ug");
        const g: UserGrant = { id, user: u.id, project: p, roles: within(it.roles, pg ? pg.roles : p.roles), active: true, agg: aggregate(s.inst, id, owner) };
        if (pg) g.pg = pg;
        s.grants.push(g);
        out.push(g.agg(ev.userGrantAdded, { userId: u.id, projectId: p.id, ...(pg ? { grantId: pg.id } : {}), roleKeys: g.roles }));
        break;
      }
      case "changeGrant": {
        const g = pick(s.grants, it.a);
        if (!g) break;
        g.roles = within(it.roles, g.pg ? g.pg.roles : g.project.roles);
        out.push(it.flag ? g.agg(ev.userGrantCascadeChanged, { roleKeys: g.roles }) : g.agg(ev.userGrantChanged, { userId: g.user, roleKeys: g.roles }));
        break;
      }
      case "deactivateGrant": {
        const g = pick(
          s.grants.filter((x) => x.active),
          it.a,
        );
        if (!g) break;
        g.active = false;
        out.push(g.agg(ev.userGrantDeactivated, {}));
        break;
      }
      case "reactivateGrant": {
        const g = pick(
          s.grants.filter((x) => !x.active),
          it.a,
        );
        if (!g) break;
        g.active = true;
        out.push(g.agg(ev.userGrantReactivated, {}));
        break;
      }
      case "removeGrant": {
        const g = pick(s.grants, it.a);
        if (!g) break;
        out.push(it.flag ? g.agg(ev.userGrantCascadeRemoved, {}) : g.agg(ev.userGrantRemoved, { userId: g.user, projectId: g.project.id }));
        s.grants = s.grants.filter((x) => x !== g);
        break;
      }
      case "removeOrg": {
        const org = pick(s.orgs, it.a);
        if (!org) break;
        out.push((s.orgAggs.get(org) as Emit)(ev.orgRemoved, {}));
        const users = new Set(s.users.filter((u) => u.org === org).map((u) => u.id));
        s.orgs = s.orgs.filter((o) => o !== org);
        s.policies.delete(org);
        s.users = s.users.filter((u) => u.org !== org);
        s.projects = s.projects.filter((p) => p.org !== org);
        s.pgs = s.pgs.filter((pg) => pg.project.org !== org && pg.grantedOrg !== org);
        // The 4 ways: of its users, of its projects, under project grants given to it, owned by it (the
        // owner of a grant is the project grant's granted org, else the project's org).
        dropGrants((g) => users.has(g.user) || g.project.org === org || g.pg?.grantedOrg === org || (g.pg ? g.pg.grantedOrg : g.project.org) === org);
        break;
      }
      case "removeInstance": {
        out.push(s.instanceAgg(ev.instanceRemoved, {}));
        s.alive = false;
        break;
      }
    }
  }
  const expected = instances.flatMap((s) =>
    s.alive
      ? s.grants.map((g) => ({
          instance_id: s.inst,
          id: g.id,
          user_id: g.user,
          project_id: g.project.id,
          grant_id: g.pg?.id ?? "",
          roles: g.roles,
          state: g.active ? 1 : 2,
        }))
      : [],
  );
  return { events: out, expected };
}

const intent = fc.record({
  kind: fc.oneof(...Object.entries(WEIGHTS).map(([k, w]) => ({ arbitrary: fc.constant(k as Kind), weight: w * 10 }))),
  instance: fc.nat(1),
  a: fc.nat(40),
  b: fc.nat(40),
  c: fc.nat(40),
  roles: fc.subarray(ROLES),
  flag: fc.boolean(),
});
// Orgs first, so most intents find something to act on; instance removals stay rare.
export const intents = fc
  .tuple(fc.integer({ min: 2, max: 4 }), fc.array(intent, { minLength: 20, maxLength: 100, size: "medium" }))
  .map(([orgs, rest]) => [
    ...Array.from({ length: orgs }, (_, i): Intent => ({ kind: "addOrg", instance: i, a: 0, b: 0, c: 0, roles: [], flag: false })),
    ...rest,
  ]);

export const histories = intents.map((i) => interpret(i).events);
