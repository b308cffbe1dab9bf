// The users search body: ZITADEL's user search queries (typed queries with text methods, nested with
// andQuery / orQuery / notQuery) as SQL conditions on `users u`, and the conditions the GET list shares.
import { idSchema } from "@idp/events";
import {
  addQueries,
  type LeafSql,
  type Param,
  queryTree,
  SqlWhere,
  searchBodySchema,
  type TextMatch,
  textCondition,
  textMethod,
  zitadelEnum,
} from "@idp/runtime";
import { z } from "zod";
import { filterByMetadata, metadataQuery } from "./metadata-routes.ts";
import { UserState, UserType } from "./projection.ts";

export const textFilter = z.string().min(1).max(200);
/** ZITADEL's default method is EQUALS (case-sensitive). */
const method = textMethod.default("TEXT_QUERY_METHOD_EQUALS");

const EQUALITY: readonly TextMatch[] = ["equals", "equalsIgnoreCase", "TEXT_QUERY_METHOD_EQUALS", "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE"];

/** Users with a login name (or, `preferred`, a preferred login name) that matches. */
export function loginNameCondition(p: Param, name: string, m: TextMatch, preferred = false): string {
  const match = `EXISTS (SELECT 1 FROM login_names ln WHERE ln.instance_id = u.instance_id AND ln.user_id = u.id${preferred ? " AND ln.is_primary" : ""}
    AND ${textCondition(p, "ln.login_name", name, m)})`;
  if (!EQUALITY.includes(m)) return match;
  // Narrow by username first (indexed): a login name is the username, or username@domain.
  const at = name.lastIndexOf("@");
  return `lower(u.username) IN (lower(${p(name)}), lower(${p(at > 0 ? name.slice(0, at) : name)})) AND ${match}`;
}

/** Users whose e-mail (or phone) is, or is not, verified: a user without one is not verified. */
export const verifiedCondition = (column: "u.is_email_verified" | "u.is_phone_verified", verified: boolean) => `${column} IS ${verified ? "" : "NOT "}TRUE`;

/** Users whose e-mail is one of these, ignoring case (uses the e-mail index). */
export const emailsCondition = (p: Param, emails: readonly string[]) => `lower(u.email) = ANY(SELECT lower(e) FROM unnest(${p(emails)}::text[]) e)`;

/** A metadata filter as one condition (its placeholders numbered into the outer query's). */
function metadataCondition(p: Param, q: Parameters<typeof filterByMetadata>[1]): string {
  const w = new SqlWhere();
  filterByMetadata(w, q);
  return w.condition(p);
}

const leaves = {
  userNameQuery: z.strictObject({ userName: textFilter, method }),
  firstNameQuery: z.strictObject({ firstName: textFilter, method }),
  lastNameQuery: z.strictObject({ lastName: textFilter, method }),
  nickNameQuery: z.strictObject({ nickName: textFilter, method }),
  displayNameQuery: z.strictObject({ displayName: textFilter, method }),
  emailQuery: z.strictObject({ emailAddress: textFilter, method }),
  phoneQuery: z.strictObject({ number: textFilter, method }),
  loginNameQuery: z.strictObject({ loginName: textFilter, method }),
  // Beyond ZITADEL's body (its GET-style filters here): verified e-mail / phone, the preferred login name.
  emailVerifiedQuery: z.strictObject({ isVerified: z.boolean() }),
  phoneVerifiedQuery: z.strictObject({ isVerified: z.boolean() }),
  preferredLoginNameQuery: z.strictObject({ preferredLoginName: textFilter, method }),
  stateQuery: z.strictObject({ state: zitadelEnum(UserState, "USER_STATE_") }),
  typeQuery: z.strictObject({ type: zitadelEnum(UserType, "TYPE_") }),
  organizationIdQuery: z.strictObject({ organizationId: idSchema }),
  inUserIdsQuery: z.strictObject({ userIds: z.array(idSchema).min(1).max(100) }),
  inUserEmailsQuery: z.strictObject({ userEmails: z.array(textFilter).min(1).max(100) }),
  metadataKeyFilter: z.strictObject({ key: metadataQuery.metadataKey.unwrap(), method }),
  metadataValueFilter: z.strictObject({ value: metadataQuery.metadataValue.unwrap(), method: z.enum(["BYTE_FILTER_METHOD_EQUALS", "equals"]).optional() }),
};

const leafSql: LeafSql<typeof leaves> = {
  userNameQuery: (p, v) => textCondition(p, "u.username", v.userName, v.method),
  firstNameQuery: (p, v) => textCondition(p, "u.first_name", v.firstName, v.method),
  lastNameQuery: (p, v) => textCondition(p, "u.last_name", v.lastName, v.method),
  nickNameQuery: (p, v) => textCondition(p, "u.nick_name", v.nickName, v.method),
  displayNameQuery: (p, v) => textCondition(p, "u.display_name", v.displayName, v.method),
  emailQuery: (p, v) => textCondition(p, "u.email", v.emailAddress, v.method),
  phoneQuery: (p, v) => textCondition(p, "u.phone", v.number, v.method),
  loginNameQuery: (p, v) => loginNameCondition(p, v.loginName, v.method),
  emailVerifiedQuery: (_p, v) => verifiedCondition("u.is_email_verified", v.isVerified),
  phoneVerifiedQuery: (_p, v) => verifiedCondition("u.is_phone_verified", v.isVerified),
  preferredLoginNameQuery: (p, v) => loginNameCondition(p, v.preferredLoginName, v.method, true),
  stateQuery: (p, v) => `u.state = ${p(v.state)}`,
  typeQuery: (p, v) => `u.type = ${p(v.type)}`,
  organizationIdQuery: (p, v) => `u.resource_owner = ${p(v.organizationId)}`,
  inUserIdsQuery: (p, v) => `u.id = ANY(${p(v.userIds)}::text[])`,
  inUserEmailsQuery: (p, v) => emailsCondition(p, v.userEmails),
  metadataKeyFilter: (p, v) => metadataCondition(p, { metadataKey: v.key, metadataKeyMethod: v.method }),
  metadataValueFilter: (p, v) => metadataCondition(p, { metadataValue: v.value, metadataKeyMethod: "equals" }),
};

export const userQuery = queryTree("UserQuery", leaves);

/** ZITADEL's sorting columns, as the list's sorts. */
export const SORTING_COLUMNS = {
  USER_FIELD_NAME_UNSPECIFIED: "id",
  USER_FIELD_NAME_USER_NAME: "username",
  USER_FIELD_NAME_FIRST_NAME: "firstName",
  USER_FIELD_NAME_LAST_NAME: "lastName",
  USER_FIELD_NAME_NICK_NAME: "nickName",
  USER_FIELD_NAME_DISPLAY_NAME: "displayName",
  USER_FIELD_NAME_EMAIL: "email",
  USER_FIELD_NAME_STATE: "state",
  USER_FIELD_NAME_TYPE: "type",
  USER_FIELD_NAME_CREATION_DATE: "creationDate",
} as const;

/** The body of POST /users/_search, given the list's sort names. */
export const searchBody = (sorts: readonly string[]) =>
  searchBodySchema(userQuery, SORTING_COLUMNS, sorts, { defaultColumn: "USER_FIELD_NAME_UNSPECIFIED", asc: true, noun: "user" });

/** The search's queries (AND-ed) as conditions of the list's query. */
export const addSearchQueries = (w: SqlWhere, queries: z.output<typeof userQuery>[]) => addQueries(w, queries, leafSql);
