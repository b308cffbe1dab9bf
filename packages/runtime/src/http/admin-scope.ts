// Who an admin token may act for. A platform admin (scope projections:admin, no instance_id claim) acts
// on the whole projection. An instance admin (the same scope with an instance_id claim) sees and acts
// only on its instance: parked events, lag, and a rebuild of that instance; everything that affects all
// tenants (pause, replay, full rebuild, schema switches, the audit log) is refused with 403.
import type { FastifyRequest } from "fastify";
import { forbidden } from "./errors.ts";

/** The instance the caller is restricted to; undefined for a platform admin. */
export function adminInstance(req: FastifyRequest): string | undefined {
  const t = req.tenant;
  // An org restriction cannot be honoured here (operator data is per instance, not per organisation),
  // so such a token gets nothing rather than its whole instance.
  if (t.orgId !== undefined) throw forbidden("admin tokens restricted to an organisation (org_id) are not accepted");
  return t.instanceId === "" ? undefined : t.instanceId;
}

/** Refuses an instance admin: the action affects every tenant of the projection. */
export function requirePlatformAdmin(req: FastifyRequest, action: string): void {
  const own = adminInstance(req);
  if (own !== undefined) throw forbidden(`${action} affects every instance; it needs an admin token without instance_id (this one is restricted to ${own})`);
}

/** Refuses an instance admin acting on another instance. */
export function requireInstance(req: FastifyRequest, instanceId: string | undefined | null): void {
  const own = adminInstance(req);
  if (own !== undefined && instanceId !== own) throw forbidden(`this token is restricted to instance ${own}`);
}
