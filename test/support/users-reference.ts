// An independent reference of the users read model, written directly from ZITADEL's event semantics
// (not from the service's reducers), for crash and fault tests.
import type { EventToPublish } from "@idp/producer";

export interface RefUser {
  id: string;
  instance_id: string;
  resource_owner: string;
  sequence: number;
  state: number;
  type: number;
  username: string;
  email: string | null;
  is_email_verified: boolean | null;
  phone: string | null;
  display_name: string | null;
  has_secret: boolean | null;
}

export function referenceUsers(events: EventToPublish[]): Map<string, RefUser> {
  const users = new Map<string, RefUser>();
  const removedOrgs = new Set<string>();
  const lastSeq = new Map<string, number>();
  for (const e of events) {
    const aggKey = `${e.instanceId}/${e.aggregateId}`;
    if (e.aggregateSequence <= (lastSeq.get(aggKey) ?? 0)) continue; // duplicates
    lastSeq.set(aggKey, e.aggregateSequence);
    const key = `${e.instanceId}/${e.aggregateId}`;
    const p = e.payload as Record<string, unknown>;
    const u = users.get(key);
    const stamp = (patch: Partial<RefUser>) => {
      if (u) users.set(key, { ...u, ...patch, sequence: e.aggregateSequence });
    };
    switch (e.eventType) {
      case "user.human.added":
      case "user.machine.added": {
        if (removedOrgs.has(`${e.instanceId}/${e.resourceOwner}`)) break;
        const human = e.eventType === "user.human.added";
        users.set(key, {
          id: e.aggregateId,
          instance_id: e.instanceId,
          resource_owner: e.resourceOwner,
          sequence: e.aggregateSequence,
          state: 1,
          type: human ? 1 : 2,
          username: p.userName as string,
          email: human ? (p.email as string) : null,
          is_email_verified: human ? false : null,
          phone: human ? ((p.phone as string | null) ?? null) : null,
          display_name: human ? (p.displayName as string | null) || null : null,
          has_secret: human ? null : false,
        });
        break;
      }
      case "user.locked":
        stamp({ state: 4 });
        break;
      case "user.deactivated":
        stamp({ state: 2 });
        break;
      case "user.human.initialization.code.added":
        stamp({ state: 6 });
        break;
      case "user.unlocked":
      case "user.reactivated":
      case "user.human.initialization.check.succeeded":
        stamp({ state: 1 });
        break;
      case "user.removed":
        users.delete(key);
        break;
      case "user.username.changed":
        stamp({ username: p.userName as string });
        break;
      case "user.human.email.changed":
        if (u?.type === 1) stamp({ email: p.email as string, is_email_verified: false });
        break;
      case "user.human.email.verified":
        if (u?.type === 1) stamp({ is_email_verified: true });
        break;
      case "user.human.phone.changed":
        if (u?.type === 1) stamp({ phone: p.phone as string });
        break;
      case "user.human.phone.removed":
        if (u?.type === 1) stamp({ phone: null });
        break;
      case "user.human.profile.changed":
        if (u?.type === 1) stamp(p.displayName != null ? { display_name: (p.displayName as string) || null } : {});
        break;
      case "user.machine.secret.set":
      case "user.machine.secret.updated":
        if (u?.type === 2) stamp({ has_secret: true });
        break;
      case "user.machine.secret.removed":
        if (u?.type === 2) stamp({ has_secret: false });
        break;
      case "org.removed":
        removedOrgs.add(`${e.instanceId}/${e.aggregateId}`);
        for (const [k, v] of users) if (v.instance_id === e.instanceId && v.resource_owner === e.aggregateId) users.delete(k);
        break;
      default:
        // Events that do not change these columns still advance the user's sequence.
        if (u && e.aggregateId === u.id) stamp({});
    }
  }
  return users;
}

export const REF_COLUMNS = "id, instance_id, resource_owner, sequence, state, type, username, email, is_email_verified, phone, display_name, has_secret";
