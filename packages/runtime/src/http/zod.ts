// zod validates every request part at the edge; the same schemas produce the OpenAPI document.
import type { FastifyInstance, FastifySchema } from "fastify";
import { z } from "zod";
import { detailsSchema } from "../query/details.ts";
import { ApiError, badRequest, errorBodySchema } from "./errors.ts";

/** The path of the first string holding a NUL character: PostgreSQL text cannot store one, so no input may. */
function nulPath(data: unknown, path: string[] = []): string[] | undefined {
  if (typeof data === "string") return data.includes("\u0000") ? path : undefined;
  if (typeof data !== "object" || data === null) return undefined;
  for (const [key, value] of Object.entries(data)) {
    const found = nulPath(value, [...path, key]);
    if (found) return found;
  }
  return undefined;
}

export function useZod(app: FastifyInstance) {
  // Fastify's parser keeps a malformed escape (`%ZZ`, `%C3%28`) as text: the client meant something else.
  app.addHook("onRequest", async (req) => {
    const at = req.url.indexOf("?");
    if (at < 0) return;
    try {
      decodeURIComponent(req.url.slice(at + 1));
    } catch {
      throw badRequest("the query string is not valid percent-encoding (UTF-8)");
    }
  });
  app.setValidatorCompiler(({ schema, httpPart }) => (data: unknown) => {
    const nul = nulPath(data);
    const result = nul ? undefined : (schema as z.ZodType).safeParse(data ?? {});
    if (result?.success) return { value: result.data };
    const details = result
      ? result.error.issues.map((i) => ({ field: i.path.join(".") || httpPart, message: i.message }))
      : [{ field: nul?.join(".") || httpPart, message: "NUL characters are not allowed" }];
    const message = `invalid ${httpPart ?? "input"}: ${details.map((d) => `${d.field}: ${d.message}`).join("; ")}`;
    // A cursor that fails even the parameter's checks (NUL, too long) is still a bad cursor.
    if (details.every((d) => d.field === "cursor")) return { error: new ApiError(400, "invalid_cursor", message, details) };
    const err = new Error(message) as Error & { statusCode: number; details: unknown; validation: unknown };
    err.statusCode = 400;
    err.details = details;
    err.validation = details;
    return { error: err };
  });
  // Responses are built by our own code from typed rows; plain JSON keeps them fast.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}

const isZod = (s: unknown): s is z.ZodType => typeof s === "object" && s !== null && "safeParse" in s;

const COMPONENTS = "#/components/schemas/";
// The `details` of every resource, defined before zod names could be given; named here once.
z.globalRegistry.add(detailsSchema, { id: "Details" });
const STATUS_TEXT: Record<string, string> = {
  200: "OK",
  202: "Accepted",
  400: "invalid_argument (or invalid_cursor): the request failed validation",
  401: "unauthenticated: the bearer token is missing, expired or invalid",
  403: "permission_denied: the token lacks the route's scope, or the admin its reach",
  404: "not_found",
  409: "the current state refuses the action (the code says which)",
  429: "rate_limited: the instance's, admin token's or address's rate limit is exceeded (see Retry-After)",
  503: "unavailable (signing keys unreachable) or projection_behind (X-Min-Position not reached in time)",
};

/**
 * zod → JSON Schema for a 3.1 document. Schemas named with `.meta({ id })` become components shared by
 * every route (written into the document being built); everything else stays inline.
 */
function toOpenApiSchema(s: z.ZodType, io: "input" | "output", components: Record<string, unknown>): Record<string, unknown> {
  const json = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Record<string, unknown>;
  const { $schema: _ignored, $defs, ...rest } = json;
  const relink = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll('"#/$defs/', `"${COMPONENTS}`));
  for (const [id, def] of Object.entries(($defs ?? {}) as Record<string, unknown>)) {
    const schema = relink(def);
    if (id in components && JSON.stringify(components[id]) !== JSON.stringify(schema)) {
      throw new Error(`two different schemas are named ${id}`);
    }
    components[id] = schema;
  }
  return relink(rest);
}

/** The errors every documented route can answer: malformed input, auth, rate limits (per tenant, per admin token), unavailable keys. */
const STANDARD_ERRORS = ["400", "401", "403", "429", "503"];

/** @fastify/swagger transform: zod schemas → JSON Schema in the OpenAPI document, with the standard errors. */
export function zodToOpenApi({
  schema,
  url,
  openapiObject,
}: {
  schema: FastifySchema;
  url: string;
  openapiObject?: { components?: { schemas?: Record<string, unknown> } };
}) {
  if (!schema) return { schema, url };
  const doc = openapiObject ?? {};
  doc.components ??= {};
  doc.components.schemas ??= {};
  const components = doc.components.schemas;
  const out: Record<string, unknown> = { ...schema };
  for (const part of ["querystring", "params", "headers", "body"] as const) {
    const s = schema[part];
    if (isZod(s)) out[part] = toOpenApiSchema(s, "input", components);
  }
  if (url.startsWith("/v1/")) {
    // Read-your-writes is available on every query route (see read-your-writes.ts).
    const headers = (out.headers as { properties?: Record<string, unknown> } | undefined) ?? { type: "object", properties: {} };
    out.headers = {
      ...headers,
      properties: {
        ...headers.properties,
        "x-min-position": {
          type: "string",
          description: "topic:partition:offset[,…] from the producer SDK: wait (bounded) until applied, else 503 projection_behind",
        },
      },
    };
  }
  const declared = (schema.response ?? {}) as Record<string, unknown>;
  const response: Record<string, unknown> = {};
  for (const code of new Set([...Object.keys(declared), ...STANDARD_ERRORS])) {
    const s = declared[code] ?? errorBodySchema;
    const converted = isZod(s) ? toOpenApiSchema(s, "output", components) : (s as Record<string, unknown>);
    // The response's description: @fastify/swagger takes it from x-response-description, or from the
    // description beside a $ref (it resolves the reference and loses the extension).
    const key = "$ref" in converted ? "description" : "x-response-description";
    response[code] = { ...converted, [key]: STATUS_TEXT[code] ?? "Response" };
  }
  out.response = response;
  return { schema: out as FastifySchema, url };
}
