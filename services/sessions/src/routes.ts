// Sessions query API: get by id, and search with ZITADEL's session filters (ids, user, creator, user
// agent, creation and expiration dates), sorting and keyset pagination. The token id is never returned.
import { idSchema } from "@idp/events";
import {
  boundedJsonDepth,
  cursorKeys,
  type DetailsRow,
  detailsSchema,
  enumName,
  errorBodySchema,
  flag,
  idList,
  instant,
  iso,
  keyset,
  notFound,
  type OrgScope,
  pageSchema,
  preferredLoginNameSql,
  type RouteDeps,
  searchPageSchema,
  searchReader,
  tenantRows,
  tenantWhere,
  toDetails,
} from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { SessionState } from "./projection.ts";
import { addSearchQueries, SORTING_COLUMNS, searchBody } from "./search-queries.ts";

/** Sessions belong to the instance; an org-restricted token sees the sessions of its org's users. */
const orgScope: OrgScope = (p, orgId) => `s.user_resource_owner = ${p(orgId)}`;

// Explicit columns: the token id stays in the database.
const COLUMNS = `s.id, s.resource_owner, s.creation_date, s.change_date, s.sequence, s.state, s.creator,
  s.user_id, s.user_resource_owner, s.user_checked_at, s.password_checked_at, s.intent_checked_at,
  s.webauthn_checked_at, s.webauthn_user_verified, s.totp_checked_at, s.otp_sms_checked_at,
  s.otp_email_checked_at, s.mfa_recovery_code_checked_at, s.metadata, s.token_id IS NOT NULL AS has_token,
  s.user_agent_fingerprint_id, s.user_agent_ip, s.user_agent_description, s.user_agent_header, s.expiration,
  su.username, su.display_name, ${preferredLoginNameSql("su")} AS preferred_login_name`;
const FROM = `sessions s
LEFT JOIN session_users su ON su.instance_id = s.instance_id AND su.user_id = s.user_id`;

const sessions = keyset({
  name: "sessions",
  columns: COLUMNS,
  from: FROM,
  sorts: {
    creationDate: { sql: "s.creation_date", kind: "timestamp" },
    id: { sql: "s.id", kind: "text" },
  },
  tieBreaker: [{ sql: "s.id", kind: "text" }],
});

const listQuery = z.strictObject({
  ids: idList.optional().describe("comma-separated session ids"),
  userId: idSchema.optional().describe("sessions whose checked user is this user"),
  creator: idSchema.optional().describe("user who created the session"),
  userAgentFingerprintId: z.string().min(1).max(200).optional(),
  creationDateFrom: instant.optional().describe("created at or after (RFC 3339)"),
  creationDateTo: instant.optional().describe("created before (RFC 3339)"),
  expiresAfter: instant.optional().describe("expiration after this time, or no expiration (RFC 3339)"),
  expiresBefore: instant.optional().describe("expiration before this time (RFC 3339); sessions without expiration never match"),
  active: flag.optional().describe("true: only sessions not expired now; false: only expired ones"),
  ...sessions.params("creationDate"),
});

const check = z.object({ checkedAt: z.string() }).nullable();

const sessionSchema = z
  .object({
    id: z.string(),
    state: z.string(),
    creator: z.string(),
    user: z
      .object({
        id: z.string(),
        organizationId: z.string().nullable(),
        checkedAt: z.string().nullable(),
        username: z.string().nullable(),
        displayName: z.string().nullable(),
        preferredLoginName: z.string().nullable().describe("username, or username@primary org domain when the domain policy requires it; null while unknown"),
      })
      .nullable(),
    factors: z.object({
      password: check,
      intent: check,
      webAuthN: z.object({ checkedAt: z.string(), userVerified: z.boolean() }).nullable(),
      totp: check,
      otpSms: check,
      otpEmail: check,
      recoveryCode: check,
    }),
    hasToken: z.boolean().describe("a session token was issued; the token and its id are never returned"),
    metadata: z.record(z.string(), z.string()).describe("key → base64 value"),
    userAgent: z
      .object({
        fingerprintId: z.string().nullable(),
        ip: z.string().nullable(),
        description: z.string().nullable(),
        header: z.record(z.string(), z.array(z.string())).nullable(),
      })
      .nullable(),
    expirationDate: z.string().nullable(),
    details: detailsSchema,
  })
  .meta({ id: "Session" });

/** A row of `COLUMNS`, as pg returns it. */
interface Row extends DetailsRow {
  id: string;
  state: number;
  creator: string;
  user_id: string | null;
  user_resource_owner: string | null;
  user_checked_at: Date | null;
  password_checked_at: Date | null;
  intent_checked_at: Date | null;
  webauthn_checked_at: Date | null;
  webauthn_user_verified: boolean | null;
  totp_checked_at: Date | null;
  otp_sms_checked_at: Date | null;
  otp_email_checked_at: Date | null;
  mfa_recovery_code_checked_at: Date | null;
  metadata: Record<string, string> | null;
  has_token: boolean;
  user_agent_fingerprint_id: string | null;
  user_agent_ip: string | null;
  user_agent_description: string | null;
  user_agent_header: Record<string, string[]> | null;
  expiration: Date | null;
  username: string | null;
  display_name: string | null;
  preferred_login_name: string | null;
}

const checked = (d: Date | null) => (d ? { checkedAt: d.toISOString() } : null);

function toSession(r: Row): z.infer<typeof sessionSchema> {
  const ua = [r.user_agent_fingerprint_id, r.user_agent_ip, r.user_agent_description, r.user_agent_header].some((v) => v != null);
  return {
    id: r.id,
    state: enumName(SessionState, r.state),
    creator: r.creator,
    user: r.user_id
      ? {
          id: r.user_id,
          organizationId: r.user_resource_owner,
          checkedAt: iso(r.user_checked_at),
          username: r.username,
          displayName: r.display_name,
          preferredLoginName: r.preferred_login_name,
        }
      : null,
    factors: {
      password: checked(r.password_checked_at),
      intent: checked(r.intent_checked_at),
      webAuthN: r.webauthn_checked_at ? { checkedAt: r.webauthn_checked_at.toISOString(), userVerified: r.webauthn_user_verified === true } : null,
      totp: checked(r.totp_checked_at),
      otpSms: checked(r.otp_sms_checked_at),
      otpEmail: checked(r.otp_email_checked_at),
      recoveryCode: checked(r.mfa_recovery_code_checked_at),
    },
    hasToken: r.has_token === true,
    metadata: r.metadata ?? {},
    userAgent: ua
      ? {
          fingerprintId: r.user_agent_fingerprint_id,
          ip: r.user_agent_ip,
          description: r.user_agent_description,
          header: r.user_agent_header,
        }
      : null,
    expirationDate: iso(r.expiration),
    details: toDetails(r),
  };
}

export const sessionRoutes =
  ({ db, config }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    const keys = cursorKeys(config.cursorKeys, app.log);
    const readPage = sessions.reader(db, keys);
    const search = searchReader(sessions, db, keys, SORTING_COLUMNS);
    app.get<{ Params: { sessionId: string } }>(
      "/sessions/:sessionId",
      {
        schema: {
          operationId: "getSession",
          summary: "Get a session by id",
          tags: ["sessions"],
          params: z.strictObject({ sessionId: idSchema }),
          response: { 200: sessionSchema, 404: errorBodySchema },
        },
      },
      async (req) => {
        const { sessionId } = req.params;
        const w = tenantWhere(req.tenant, "s", orgScope);
        w.add((p) => `s.id = ${p(sessionId)}`);
        const [row] = await tenantRows<Row>(db, req.tenant, w.prepared(`SELECT ${COLUMNS} FROM ${FROM}`));
        if (!row) throw notFound(`session ${sessionId} not found`);
        return toSession(row);
      },
    );

    app.get<{ Querystring: z.infer<typeof listQuery> }>(
      "/sessions",
      {
        schema: {
          operationId: "searchSessions",
          summary: "Search sessions",
          description:
            "Filters are AND-ed. Terminated sessions are deleted; expired ones stay until filtered out (`active`, `expiresAfter`). " +
            "Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["sessions"],
          querystring: listQuery,
          response: { 200: pageSchema(sessionSchema) },
        },
      },
      async (req) => {
        const q = req.query;
        const w = tenantWhere(req.tenant, "s", orgScope);
        if (q.ids) w.add((p) => `s.id = ANY(${p(q.ids)}::text[])`);
        w.eq("s.user_id", q.userId).eq("s.creator", q.creator).eq("s.user_agent_fingerprint_id", q.userAgentFingerprintId);
        if (q.creationDateFrom) w.add((p) => `s.creation_date >= ${p(q.creationDateFrom)}`);
        if (q.creationDateTo) w.add((p) => `s.creation_date < ${p(q.creationDateTo)}`);
        // As in ZITADEL, "expires after" also matches sessions that never expire.
        if (q.expiresAfter) w.add((p) => `(s.expiration IS NULL OR s.expiration > ${p(q.expiresAfter)})`);
        if (q.expiresBefore) w.add((p) => `s.expiration < ${p(q.expiresBefore)}`);
        if (q.active === true) w.add(() => "(s.expiration IS NULL OR s.expiration > now())");
        if (q.active === false) w.add(() => "s.expiration <= now()");
        const { rows, nextCursor } = await readPage<Row>(req.tenant, q, w);
        return { result: rows.map(toSession), nextCursor };
      },
    );

    const body = searchBody(sessions.sortNames);
    app.post<{ Body: z.infer<typeof body> }>(
      "/sessions/_search",
      {
        preValidation: boundedJsonDepth,
        schema: {
          operationId: "searchSessionsByQuery",
          summary: "Search sessions with a query tree (ZITADEL ListSessions)",
          description:
            "The queries are AND-ed; andQuery, orQuery and notQuery nest them. Pagination is keyset: pass `nextCursor` back as `cursor` with the same queries, sorting column and order.",
          tags: ["sessions"],
          body,
          response: { 200: searchPageSchema(sessionSchema, "session") },
        },
      },
      async (req) => {
        const { tenant, body: b } = req;
        const { rows, ...page } = await search<Row>(tenant, b, () => addSearchQueries(tenantWhere(tenant, "s", orgScope), b.queries, tenant));
        return { ...page, result: rows.map(toSession) };
      },
    );
  };
