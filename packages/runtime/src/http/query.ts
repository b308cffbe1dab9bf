// Building blocks of the query routes, shared by every service: a WHERE builder with numbered
// parameters, the tenant scope every query starts with, and the `details` every object carries.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Tenant } from "./auth.ts";

/** How a text filter matches; LIKE wildcards in the value are matched literally. */
export const textMatch = z.enum(["equals", "equalsIgnoreCase", "startsWith", "contains"]).default("equalsIgnoreCase");
export type TextMatch = z.infer<typeof textMatch>;

export class SqlWhere {
  readonly parts: string[] = [];
  readonly values: unknown[] = [];

  /** Adds a condition; `p(value)` appends a parameter and returns its placeholder. */
  add(condition: (p: (value: unknown) => string) => string): this {
    this.parts.push(condition((v) => `$${this.values.push(v)}`));
    return this;
  }

  text(column: string, value: string | undefined, method: TextMatch): this {
    if (value === undefined) return this;
    const literal = value.replace(/[\\%_]/g, (c) => `\\${c}`);
    if (method === "equals") return this.add((p) => `${column} = ${p(value)}`);
    if (method === "equalsIgnoreCase") return this.add((p) => `lower(${column}) = lower(${p(value)})`);
    if (method === "startsWith") return this.add((p) => `lower(${column}) LIKE lower(${p(literal)}) || '%'`);
    return this.add((p) => `lower(${column}) LIKE '%' || lower(${p(literal)}) || '%'`);
  }

  sql(): string {
    return this.parts.length ? ` WHERE ${this.parts.join(" AND ")}` : "";
  }

  /**
   * `select` + this WHERE + `suffix` as a named prepared statement, planned once per connection instead of
   * on every request. Only for statements of a few fixed shapes (get by id): a list's text varies with its
   * filters and would pile up prepared statements on every pooled connection.
   */
  prepared(select: string, suffix = ""): { name: string; text: string; values: unknown[] } {
    const text = select + this.sql() + suffix;
    return { name: createHash("sha1").update(text).digest("base64url"), text, values: this.values };
  }
}

/**
 * Scopes a query to the caller's tenant in SQL too (row-level security is the second line of defence):
 * the instance always, and an org-restricted token's org (by default through `<alias>.resource_owner`).
 */
export function tenantWhere(
  tenant: Tenant,
  alias: string,
  orgScope: (p: (value: unknown) => string, orgId: string) => string = (p, orgId) => `${alias}.resource_owner = ${p(orgId)}`,
): SqlWhere {
  const w = new SqlWhere().add((p) => `${alias}.instance_id = ${p(tenant.instanceId)}`);
  const orgId = tenant.orgId;
  return orgId ? w.add((p) => orgScope(p, orgId)) : w;
}

export const iso = (d: unknown): string | null => (d instanceof Date ? d.toISOString() : null);

export const detailsSchema = z.object({
  sequence: z.number(),
  creationDate: z.string(),
  changeDate: z.string(),
  resourceOwner: z.string(),
});

/** The `details` of a read-model row: the last applied aggregate sequence, dates, owner. */
export function toDetails(r: Record<string, unknown>): z.infer<typeof detailsSchema> {
  return {
    sequence: Number(r.sequence),
    creationDate: iso(r.creation_date) as string,
    changeDate: iso(r.change_date) as string,
    resourceOwner: r.resource_owner as string,
  };
}
