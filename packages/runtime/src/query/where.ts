// WHERE clauses with numbered parameters, and the tenant scope every query starts with.
import { z } from "zod";
import { prepared } from "../db/pool.ts";
import type { Tenant } from "../http/auth.ts";

/**
 * How a text filter matches; LIKE wildcards in the value are matched literally. The short names
 * `startsWith` and `contains` ignore case (as they always have here); ZITADEL's names (TEXT_QUERY_METHOD_*)
 * mean what they mean there, so TEXT_QUERY_METHOD_STARTS_WITH and _CONTAINS are case-sensitive.
 */
const TEXT_METHODS = {
  equals: "eq",
  equalsIgnoreCase: "eqI",
  notEquals: "ne",
  notEqualsIgnoreCase: "neI",
  startsWith: "swI",
  startsWithIgnoreCase: "swI",
  contains: "coI",
  containsIgnoreCase: "coI",
  endsWith: "ew",
  endsWithIgnoreCase: "ewI",
  TEXT_QUERY_METHOD_EQUALS: "eq",
  TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE: "eqI",
  TEXT_QUERY_METHOD_STARTS_WITH: "sw",
  TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE: "swI",
  TEXT_QUERY_METHOD_CONTAINS: "co",
  TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE: "coI",
  TEXT_QUERY_METHOD_ENDS_WITH: "ew",
  TEXT_QUERY_METHOD_ENDS_WITH_IGNORE_CASE: "ewI",
} as const;
export const textMethod = z.enum(Object.keys(TEXT_METHODS) as [keyof typeof TEXT_METHODS, ...(keyof typeof TEXT_METHODS)[]]);
export const textMatch = textMethod.default("equalsIgnoreCase");
export type TextMatch = z.infer<typeof textMethod>;

/** The condition of a text filter on `column` (a NULL column matches nothing but a "not equals"). */
export function textCondition(p: Param, column: string, value: string, method: TextMatch): string {
  const like = value.replace(/[\\%_]/g, (c) => `\\${c}`);
  switch (TEXT_METHODS[method]) {
    case "eq":
      return `${column} = ${p(value)}`;
    case "eqI":
      return `lower(${column}) = lower(${p(value)})`;
    case "ne":
      return `${column} IS DISTINCT FROM ${p(value)}`;
    case "neI":
      return `lower(${column}) IS DISTINCT FROM lower(${p(value)})`;
    case "sw":
      return `${column} LIKE ${p(like)} || '%'`;
    case "swI":
      return `lower(${column}) LIKE lower(${p(like)}) || '%'`;
    case "co":
      return `${column} LIKE '%' || ${p(like)} || '%'`;
    case "coI":
      return `lower(${column}) LIKE '%' || lower(${p(like)}) || '%'`;
    case "ew":
      return `${column} LIKE '%' || ${p(like)}`;
    case "ewI":
      return `lower(${column}) LIKE '%' || lower(${p(like)})`;
  }
}

/** Appends a parameter and returns its placeholder (`$n`). */
export type Param = (value: unknown) => string;

export class SqlWhere {
  readonly parts: string[] = [];
  readonly values: unknown[] = [];

  /** Adds a condition; `p(value)` appends a parameter and returns its placeholder. */
  add(condition: (p: Param) => string): this {
    this.parts.push(condition((v) => `$${this.values.push(v)}`));
    return this;
  }

  /** `column = value` when the value is given (an optional filter). */
  eq(column: string, value: unknown): this {
    return value === undefined ? this : this.add((p) => `${column} = ${p(value)}`);
  }

  text(column: string, value: string | undefined, method: TextMatch): this {
    return value === undefined ? this : this.add((p) => textCondition(p, column, value, method));
  }

  /** The conditions AND-ed, as one condition of another query: placeholders renumbered into its parameters. */
  condition(p: Param): string {
    const placeholders = this.values.map((v) => p(v));
    return `(${this.parts.join(" AND ") || "true"})`.replace(/\$(\d+)/g, (_, n: string) => placeholders[Number(n) - 1] as string);
  }

  sql(): string {
    return this.parts.length ? ` WHERE ${this.parts.join(" AND ")}` : "";
  }

  /**
   * `select` + this WHERE + `suffix` as a named prepared statement, planned once per connection instead of
   * on every request. Only for statements of a few fixed shapes (get by id): a list's text varies with its
   * filters and would pile up prepared statements on every pooled connection.
   */
  prepared(select: string, suffix = ""): ReturnType<typeof prepared> {
    return prepared(select + this.sql() + suffix, this.values);
  }
}

/** Narrows an org-restricted token's reads to its org: an SQL condition on the given org id. */
export type OrgScope = (p: Param, orgId: string) => string;

/**
 * Scopes a query to the caller's tenant in SQL too (row-level security is the second line of defence):
 * the instance always, and an org-restricted token's org (by default through `<alias>.resource_owner`).
 */
export function tenantWhere(tenant: Tenant, alias: string, orgScope: OrgScope = (p, orgId) => `${alias}.resource_owner = ${p(orgId)}`): SqlWhere {
  const w = new SqlWhere().add((p) => `${alias}.instance_id = ${p(tenant.instanceId)}`);
  const orgId = tenant.orgId;
  return orgId ? w.add((p) => orgScope(p, orgId)) : w;
}
