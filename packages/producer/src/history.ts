// Realistic, reproducible identity histories: instances with orgs, domains, domain policies, and human and
// machine users living through their events. Per-aggregate order and sequences are valid; aggregates are
// interleaved at random like real traffic. Used by the demo producer, the tests and the benchmark.
import * as ev from "@idp/events";
import { type EventToPublish, event } from "./index.ts";

/** Small, fast, seedable PRNG (mulberry32). */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T,
    chance: (p: number) => next() < p,
  };
}

export interface HistoryOptions {
  seed?: number;
  instances?: number;
  orgsPerInstance?: number;
  usersPerOrg?: number;
  /** Mean number of events after a user's creation. */
  eventsPerUser?: number;
  /** Probability that an org is removed at the end of the history. */
  orgRemovalRate?: number;
  /** Id prefix, so that test files never collide. */
  prefix?: string;
  start?: Date;
}

const FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Donald", "Radia", "Edsger", "Frances", "Tim"];
const LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton", "Knuth", "Perlman", "Dijkstra", "Allen", "Berners-Lee"];

export function generateHistory(o: HistoryOptions = {}): EventToPublish[] {
  const r = prng(o.seed ?? 1);
  const prefix = o.prefix ?? "";
  const instances = o.instances ?? 2;
  const orgsPerInstance = o.orgsPerInstance ?? 2;
  const usersPerOrg = o.usersPerOrg ?? 5;
  const mean = o.eventsPerUser ?? 6;
  let clock = (o.start ?? new Date("2026-01-01T00:00:00Z")).getTime();
  const seq = new Map<string, number>();
  const env = (instanceId: string, aggregateId: string, resourceOwner: string) => {
    const n = (seq.get(aggregateId) ?? 0) + 1;
    seq.set(aggregateId, n);
    clock += 1 + r.int(1000);
    return { instanceId, aggregateId, aggregateSequence: n, resourceOwner, creator: "demo", createdAt: new Date(clock) };
  };

  const out: EventToPublish[] = [];
  const streams: EventToPublish[][] = []; // per-user lazily built streams, interleaved below
  const tail: EventToPublish[] = [];
  for (let i = 1; i <= instances; i++) {
    const instanceId = `${prefix}inst-${i}`;
    out.push(event(ev.instanceDomainPolicyAdded, env(instanceId, instanceId, instanceId), { userLoginMustBeDomain: false }));
    for (let g = 1; g <= orgsPerInstance; g++) {
      const orgId = `${prefix}org-${i}-${g}`;
      const domain = `org${g}.inst${i}.example.com`;
      out.push(event(ev.orgDomainVerified, env(instanceId, orgId, orgId), { domain }));
      out.push(event(ev.orgDomainPrimarySet, env(instanceId, orgId, orgId), { domain }));
      if (r.chance(0.5)) {
        out.push(event(ev.orgDomainPolicyAdded, env(instanceId, orgId, orgId), { userLoginMustBeDomain: true }));
      }
      for (let u = 1; u <= usersPerOrg; u++) {
        streams.push(userStream(`${prefix}user-${i}-${g}-${u}`, instanceId, orgId, u));
      }
      if (r.chance(o.orgRemovalRate ?? 0)) tail.push(event(ev.orgRemoved, env(instanceId, orgId, orgId), {}));
    }
  }

  function userStream(id: string, instanceId: string, orgId: string, n: number): EventToPublish[] {
    const s: EventToPublish[] = [];
    const e = () => env(instanceId, id, orgId);
    const first = r.pick(FIRST);
    const last = r.pick(LAST);
    const isMachine = r.chance(0.2);
    if (isMachine) {
      s.push(
        event(ev.userMachineAdded, e(), {
          userName: `svc-${n}-${id}`,
          name: `Service ${n}`,
          description: r.chance(0.5) ? "integration" : null,
          accessTokenType: r.int(2),
        }),
      );
    } else {
      s.push(
        event(ev.userHumanAdded, e(), {
          userName: `${first.toLowerCase()}.${last.toLowerCase()}.${id}`,
          firstName: first,
          lastName: last,
          displayName: `${first} ${last}`,
          preferredLanguage: r.pick(["en", "de", "und", null]),
          gender: r.int(4),
          email: `${first.toLowerCase()}.${id}@mail.example`,
          phone: r.chance(0.5) ? `+4179${String(r.int(10_000_000)).padStart(7, "0")}` : null,
          changeRequired: r.chance(0.3),
          encodedHash: r.chance(0.7) ? "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA" : null,
        }),
      );
    }
    const count = Math.max(0, Math.round(mean * (0.5 + r.next())));
    for (let k = 0; k < count; k++) {
      if (isMachine) {
        const kind = r.int(4);
        if (kind === 0) s.push(event(ev.userMachineChanged, e(), { description: `rotated ${k}` }));
        else if (kind === 1) s.push(event(ev.userMachineSecretSet, e(), { hashedSecret: "$2a$10$secrethash" }));
        else if (kind === 2) s.push(event(ev.userMachineSecretRemoved, e(), {}));
        else s.push(event(r.pick([ev.userLocked, ev.userUnlocked, ev.userDeactivated, ev.userReactivated]), e(), {}));
        continue;
      }
      switch (r.int(12)) {
        case 0:
          s.push(event(ev.userHumanEmailChanged, e(), { email: `${first.toLowerCase()}.${k}.${id}@mail.example` }));
          break;
        case 1:
          s.push(event(ev.userHumanEmailVerified, e(), {}));
          break;
        case 2:
          s.push(event(ev.userHumanPhoneChanged, e(), { phone: `+4178${String(r.int(10_000_000)).padStart(7, "0")}` }));
          break;
        case 3:
          s.push(event(r.pick([ev.userHumanPhoneVerified, ev.userHumanPhoneRemoved]), e(), {}));
          break;
        case 4:
          s.push(event(ev.userHumanProfileChanged, e(), { nickName: `${first.slice(0, 3)}${k}`, displayName: r.chance(0.5) ? `${first} ${last} ${k}` : null }));
          break;
        case 5:
          s.push(event(r.pick([ev.userLocked, ev.userUnlocked, ev.userDeactivated, ev.userReactivated]), e(), {}));
          break;
        case 6:
          s.push(event(ev.userUsernameChanged, e(), { userName: `${first.toLowerCase()}${k}.${id}` }));
          break;
        case 7:
          s.push(event(ev.userHumanPasswordChanged, e(), { changeRequired: r.chance(0.2), encodedHash: "$argon2id$new" }));
          break;
        case 8:
          s.push(r.chance(0.5) ? event(ev.userHumanInitCodeAdded, e(), {}) : event(ev.userHumanInitCheckSucceeded, e(), {}));
          break;
        case 9:
          s.push(r.chance(0.5) ? event(ev.userHumanMfaInitSkipped, e(), {}) : event(ev.userHumanMfaOtpVerified, e(), {}));
          break;
        case 10:
          s.push(event(ev.userHumanAvatarAdded, e(), { storeKey: `avatars/${id}/${k}.png` }));
          break;
        default:
          s.push(event(ev.userHumanAvatarRemoved, e(), {}));
      }
    }
    if (r.chance(0.05)) s.push(event(ev.userRemoved, e(), {}));
    return s;
  }

  // Interleave the user streams at random, keeping each stream's order. Sequences were assigned in
  // stream-building order, which is per aggregate, so they stay increasing along each aggregate.
  const cursors = streams.map(() => 0);
  let open = streams.filter((s) => s.length).length;
  const live = streams.map((_, i) => i);
  while (open > 0) {
    const pickAt = r.int(live.length);
    const idx = live[pickAt] as number;
    const s = streams[idx] as EventToPublish[];
    out.push(s[cursors[idx] as number] as EventToPublish);
    cursors[idx] = (cursors[idx] as number) + 1;
    if ((cursors[idx] as number) >= s.length) {
      live.splice(pickAt, 1);
      open--;
    }
  }
  return [...out, ...tail];
}

/**
 * The rest of an identity system around the users of `history` (from generateHistory), so that every
 * read model has rows: per instance a default lockout policy and one org policy; per org a project with
 * roles, and user grants for some of its humans; per live human a session and some auth methods; per live
 * machine user a personal access token. Appended after `history` (sequences continue each aggregate).
 */
export function serviceEvents(history: readonly EventToPublish[], seed = 1): EventToPublish[] {
  const r = prng(seed);
  const last = new Map<string, EventToPublish>();
  for (const e of history) last.set(e.aggregateId, e);
  let clock = Math.max(0, ...history.map((e) => e.createdAt?.getTime() ?? 0));
  const seq = new Map([...last].map(([id, e]) => [id, e.aggregateSequence]));
  const env = (instanceId: string, aggregateId: string, resourceOwner: string) => {
    const n = (seq.get(aggregateId) ?? 0) + 1;
    seq.set(aggregateId, n);
    clock += 1 + r.int(1000);
    return { instanceId, aggregateId, aggregateSequence: n, resourceOwner, creator: "demo", createdAt: new Date(clock) };
  };
  const firstOf = new Map<string, EventToPublish>();
  for (const e of history) if (!firstOf.has(e.aggregateId)) firstOf.set(e.aggregateId, e);
  const users = [...firstOf.values()].filter(
    (e) => (e.eventType === ev.userHumanAdded.type || e.eventType === ev.userMachineAdded.type) && last.get(e.aggregateId)?.eventType !== ev.userRemoved.type,
  );
  const orgs = [...firstOf.values()].filter((e) => e.eventType === ev.orgDomainVerified.type && last.get(e.aggregateId)?.eventType !== ev.orgRemoved.type);
  const instances = [...new Set(history.map((e) => e.instanceId))];

  const out: EventToPublish[] = [];
  for (const instanceId of instances) {
    out.push(
      event(ev.instanceLockoutPolicyAdded, env(instanceId, instanceId, instanceId), { maxPasswordAttempts: 5, maxOTPAttempts: 3, showLockOutFailures: true }),
    );
  }
  const withPolicy = new Set<string>();
  for (const org of orgs) {
    const { instanceId, aggregateId: orgId } = org;
    // Each instance's first org has a policy of its own; the others one time in two.
    if (!withPolicy.has(instanceId) || r.chance(0.5)) {
      withPolicy.add(instanceId);
      out.push(event(ev.orgLockoutPolicyAdded, env(instanceId, orgId, orgId), { maxPasswordAttempts: 3 + r.int(5), showLockOutFailures: r.chance(0.5) }));
    }
    const projectId = `${orgId}-project`;
    out.push(event(ev.projectAdded, env(instanceId, projectId, orgId), {}));
    for (const key of ["admin", "viewer"]) out.push(event(ev.projectRoleAdded, env(instanceId, projectId, orgId), { key }));
  }
  for (const u of users) {
    const { instanceId, aggregateId: userId, resourceOwner: orgId } = u;
    const user = () => env(instanceId, userId, orgId);
    if (u.eventType === ev.userMachineAdded.type) {
      const expiration = Date.parse("2099-12-31T00:00:00Z");
      out.push(event(ev.userPatAdded, user(), { tokenId: `${userId}-pat`, expiration, scopes: ["openid", "urn:zitadel:iam:org:project:id:zitadel:aud"] }));
      continue;
    }
    if (r.chance(0.6)) out.push(event(ev.userHumanMfaOtpAdded, user(), {}), event(ev.userHumanMfaOtpVerified, user(), {}));
    // Every human has metadata (the users API filters on it); some log in through an external IdP.
    out.push(event(ev.userMetadataSet, user(), { key: "tier", value: Buffer.from(r.chance(0.3) ? "gold" : "standard") }));
    if (r.chance(0.3))
      out.push(event(ev.userIdpLinkAdded, user(), { idpConfigId: `${orgId}-idp`, userId: `ext-${userId}`, displayName: `${userId}@idp.example` }));
    if (r.chance(0.4)) {
      const webAuthNTokenId = `${userId}-passkey`;
      out.push(
        event(ev.userHumanPasswordlessTokenAdded, user(), { webAuthNTokenId, rpID: "example.com" }),
        event(ev.userHumanPasswordlessTokenVerified, user(), {
          webAuthNTokenId,
          keyId: Buffer.from(webAuthNTokenId),
          signCount: 1,
          webAuthNTokenName: "laptop",
        }),
      );
    }
    if (r.chance(0.7) && orgs.some((o) => o.aggregateId === orgId)) {
      const grant = () => env(instanceId, `${userId}-grant`, orgId);
      out.push(event(ev.userGrantAdded, grant(), { userId, projectId: `${orgId}-project`, roleKeys: r.chance(0.3) ? ["admin", "viewer"] : ["viewer"] }));
    }
    const sessionId = `${userId}-session`;
    const session = () => env(instanceId, sessionId, instanceId);
    const checkedAt = clock;
    out.push(
      event(ev.sessionAdded, session(), { user_agent: { fingerprint_id: `fp-${r.int(1000)}`, ip: "192.0.2.10", header: { "user-agent": ["demo/1.0"] } } }),
      event(ev.sessionUserChecked, session(), { userID: userId, userResourceOwner: orgId, checkedAt }),
      event(ev.sessionPasswordChecked, session(), { checkedAt }),
      event(ev.sessionTokenSet, session(), { tokenID: `${sessionId}-token` }),
    );
  }
  return out;
}
