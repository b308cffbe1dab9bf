// The user-grants search body: ZITADEL's user-grant search queries (typed queries with text methods,
// nested with andQuery / orQuery / notQuery) as SQL conditions on the grants query (`g` with its lookups
// `u`, `p`, `o`, `od`), and the conditions the GET list shares with it.
import { idSchema } from "@idp/events";
import {
  addQueries,
  type LeafSql,
  type Param,
  preferredLoginNameSql,
  queryTree,
  type SqlWhere,
  searchBodySchema,
  textCondition,
  textMethod,
  zitadelEnum,
} from "@idp/runtime";
import { z } from "zod";
import { GrantState, LookupUserType } from "./projection.ts";

export const textFilter = z.string().min(1).max(200);
export const roleKey = z.string().min(1).max(200);
/** ZITADEL's default method is EQUALS (case-sensitive). */
const method = textMethod.default("TEXT_QUERY_METHOD_EQUALS");
export const LOGIN_NAME = preferredLoginNameSql("u");

/** Grants the organization owns, or grants on the organization's projects ("with granted"). */
export const withGrantedCondition = (p: Param, orgId: string) => `(g.resource_owner = ${p(orgId)} OR p.resource_owner = ${p(orgId)})`;
export const roleKeysCondition = (p: Param, keys: readonly string[]) => `g.roles && ${p(keys)}::text[]`;

const leaves = {
  userIdQuery: z.strictObject({ userId: idSchema }),
  inUserIdsQuery: z.strictObject({ userIds: z.array(idSchema).min(1).max(100) }),
  inUserGrantIdsQuery: z.strictObject({ ids: z.array(idSchema).min(1).max(100) }),
  projectIdQuery: z.strictObject({ projectId: idSchema }),
  projectGrantIdQuery: z.strictObject({ projectGrantId: idSchema }),
  organizationIdQuery: z.strictObject({ organizationId: idSchema }).describe("organization owning the grant"),
  userOrganizationIdQuery: z.strictObject({ organizationId: idSchema }).describe("organization of the granted user"),
  projectOrganizationIdQuery: z.strictObject({ organizationId: idSchema }).describe("organization owning the project"),
  withGrantedQuery: z.strictObject({ organizationId: idSchema }).describe("the organization's own grants and grants on its projects"),
  roleKeyQuery: z.strictObject({ roleKey, method }),
  inRoleKeysQuery: z.strictObject({ roleKeys: z.array(roleKey).min(1).max(100) }).describe("grants with any of these roles"),
  stateQuery: z.strictObject({ state: zitadelEnum(GrantState, "USER_GRANT_STATE_") }),
  userTypeQuery: z.strictObject({ type: zitadelEnum(LookupUserType, "TYPE_") }),
  userNameQuery: z.strictObject({ userName: textFilter, method }),
  loginNameQuery: z.strictObject({ loginName: textFilter, method }).describe("the user's preferred login name"),
  displayNameQuery: z.strictObject({ displayName: textFilter, method }),
  firstNameQuery: z.strictObject({ firstName: textFilter, method }),
  lastNameQuery: z.strictObject({ lastName: textFilter, method }),
  emailQuery: z.strictObject({ email: textFilter, method }),
  organizationNameQuery: z.strictObject({ name: textFilter, method }).describe("name of the organization owning the grant"),
  organizationDomainQuery: z.strictObject({ domain: textFilter, method }).describe("primary domain of the organization owning the grant"),
  projectNameQuery: z.strictObject({ name: textFilter, method }),
};

const leafSql: LeafSql<typeof leaves> = {
  userIdQuery: (p, v) => `g.user_id = ${p(v.userId)}`,
  inUserIdsQuery: (p, v) => `g.user_id = ANY(${p(v.userIds)}::text[])`,
  inUserGrantIdsQuery: (p, v) => `g.id = ANY(${p(v.ids)}::text[])`,
  projectIdQuery: (p, v) => `g.project_id = ${p(v.projectId)}`,
  projectGrantIdQuery: (p, v) => `g.grant_id = ${p(v.projectGrantId)}`,
  organizationIdQuery: (p, v) => `g.resource_owner = ${p(v.organizationId)}`,
  userOrganizationIdQuery: (p, v) => `u.resource_owner = ${p(v.organizationId)}`,
  projectOrganizationIdQuery: (p, v) => `p.resource_owner = ${p(v.organizationId)}`,
  withGrantedQuery: (p, v) => withGrantedCondition(p, v.organizationId),
  roleKeyQuery: (p, v) => `EXISTS (SELECT 1 FROM unnest(g.roles) AS r(key) WHERE ${textCondition(p, "r.key", v.roleKey, v.method)})`,
  inRoleKeysQuery: (p, v) => roleKeysCondition(p, v.roleKeys),
  stateQuery: (p, v) => `g.state = ${p(v.state)}`,
  userTypeQuery: (p, v) => `u.type = ${p(v.type)}`,
  userNameQuery: (p, v) => textCondition(p, "u.username", v.userName, v.method),
  loginNameQuery: (p, v) => textCondition(p, LOGIN_NAME, v.loginName, v.method),
  displayNameQuery: (p, v) => textCondition(p, "u.display_name", v.displayName, v.method),
  firstNameQuery: (p, v) => textCondition(p, "u.first_name", v.firstName, v.method),
  lastNameQuery: (p, v) => textCondition(p, "u.last_name", v.lastName, v.method),
  emailQuery: (p, v) => textCondition(p, "u.email", v.email, v.method),
  organizationNameQuery: (p, v) => textCondition(p, "o.name", v.name, v.method),
  organizationDomainQuery: (p, v) => textCondition(p, "od.primary_domain", v.domain, v.method),
  projectNameQuery: (p, v) => textCondition(p, "p.name", v.name, v.method),
};

export const userGrantQuery = queryTree("UserGrantQuery", leaves);

/** ZITADEL's sorting columns of user grants, as the list's sorts. */
export const SORTING_COLUMNS = {
  USER_GRANT_FIELD_NAME_UNSPECIFIED: "creationDate",
  USER_GRANT_FIELD_NAME_CREATION_DATE: "creationDate",
  USER_GRANT_FIELD_NAME_CHANGE_DATE: "changeDate",
  USER_GRANT_FIELD_NAME_ID: "id",
  USER_GRANT_FIELD_NAME_USER_ID: "userId",
  USER_GRANT_FIELD_NAME_PROJECT_ID: "projectId",
  USER_GRANT_FIELD_NAME_ORGANIZATION_ID: "orgId",
  USER_GRANT_FIELD_NAME_USER_ORGANIZATION_ID: "userOrgId",
} as const;

/** The body of POST /grants/_search, given the list's sort names (newest first by default, as ZITADEL). */
export const searchBody = (sorts: readonly string[]) =>
  searchBodySchema(userGrantQuery, SORTING_COLUMNS, sorts, { defaultColumn: "USER_GRANT_FIELD_NAME_UNSPECIFIED", asc: false, noun: "grant" });

/** The search's queries (AND-ed) as conditions of the list's query. */
export const addSearchQueries = (w: SqlWhere, queries: z.output<typeof userGrantQuery>[]) => addQueries(w, queries, leafSql);
