// The sessions search body: ZITADEL's session search queries (ids, user, creator, user agent, creation
// and expiration dates with timestamp methods), nested with andQuery / orQuery / notQuery, as SQL
// conditions on the sessions query (`s`).
import { idSchema } from "@idp/events";
import { addQueries, instant, type LeafSql, queryTree, type SqlWhere, searchBodySchema, type Tenant } from "@idp/runtime";
import { z } from "zod";

const TIMESTAMP_METHODS = {
  TIMESTAMP_QUERY_METHOD_EQUALS: "=",
  TIMESTAMP_QUERY_METHOD_GREATER: ">",
  TIMESTAMP_QUERY_METHOD_GREATER_OR_EQUALS: ">=",
  TIMESTAMP_QUERY_METHOD_LESS: "<",
  TIMESTAMP_QUERY_METHOD_LESS_OR_EQUALS: "<=",
} as const;
const timestampMethod = z.enum(Object.keys(TIMESTAMP_METHODS) as [keyof typeof TIMESTAMP_METHODS]).default("TIMESTAMP_QUERY_METHOD_EQUALS");

const leaves = {
  idsQuery: z.strictObject({ ids: z.array(idSchema).min(1).max(100) }),
  userIdQuery: z.strictObject({ id: idSchema }).describe("sessions whose checked user is this user"),
  creatorQuery: z.strictObject({ id: idSchema.optional() }).describe("user who created the session; without an id, the caller (the token's subject)"),
  // Unlike ZITADEL, required: this API does not see the caller's user agent.
  userAgentQuery: z.strictObject({ fingerprintId: z.string().min(1).max(200) }).describe("the session's user-agent fingerprint (required here)"),
  creationDateQuery: z.strictObject({ creationDate: instant, method: timestampMethod }),
  expirationDateQuery: z
    .strictObject({ expirationDate: instant, method: timestampMethod })
    .describe("as ZITADEL: GREATER and GREATER_OR_EQUALS also match sessions that never expire"),
};

/** The leaves' SQL for this caller (a creator query without an id means the caller). */
const leafSql = (caller: Tenant): LeafSql<typeof leaves> => ({
  idsQuery: (p, v) => `s.id = ANY(${p(v.ids)}::text[])`,
  userIdQuery: (p, v) => `s.user_id = ${p(v.id)}`,
  creatorQuery: (p, v) => `s.creator = ${p(v.id ?? caller.subject)}`,
  userAgentQuery: (p, v) => `s.user_agent_fingerprint_id = ${p(v.fingerprintId)}`,
  creationDateQuery: (p, v) => `s.creation_date ${TIMESTAMP_METHODS[v.method]} ${p(v.creationDate)}`,
  expirationDateQuery: (p, v) => {
    const op = TIMESTAMP_METHODS[v.method];
    const compared = `s.expiration ${op} ${p(v.expirationDate)}`;
    return op.startsWith(">") ? `(s.expiration IS NULL OR ${compared})` : compared;
  },
});

export const sessionQuery = queryTree("SessionQuery", leaves);

/** ZITADEL's sorting columns of sessions, as the list's sorts. */
export const SORTING_COLUMNS = {
  SESSION_FIELD_NAME_UNSPECIFIED: "creationDate",
  SESSION_FIELD_NAME_CREATION_DATE: "creationDate",
} as const;

/** The body of POST /sessions/_search, given the list's sort names (oldest first by default, as the GET list). */
export const searchBody = (sorts: readonly string[]) =>
  searchBodySchema(sessionQuery, SORTING_COLUMNS, sorts, { defaultColumn: "SESSION_FIELD_NAME_UNSPECIFIED", asc: true, noun: "session" });

/** The search's queries (AND-ed) as conditions of the list's query, for this caller. */
export const addSearchQueries = (w: SqlWhere, queries: z.output<typeof sessionQuery>[], caller: Tenant) => addQueries(w, queries, leafSql(caller));
