// zod validates every request part at the edge; the same schemas produce the OpenAPI document.
import type { FastifyInstance, FastifySchema } from "fastify";
import { z } from "zod";

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
  app.setValidatorCompiler(({ schema, httpPart }) => (data: unknown) => {
    const nul = nulPath(data);
    const result = nul ? undefined : (schema as z.ZodType).safeParse(data ?? {});
    if (result?.success) return { value: result.data };
    const details = result
      ? result.error.issues.map((i) => ({ field: i.path.join(".") || httpPart, message: i.message }))
      : [{ field: nul?.join(".") || httpPart, message: "NUL characters are not allowed" }];
    const err = new Error(
      `invalid ${httpPart ?? "input"}: ${details.map((d) => `${d.field}: ${d.message}`).join("; ")}`,
    ) as Error & { statusCode: number; details: unknown; validation: unknown };
    err.statusCode = 400;
    err.details = details;
    err.validation = details;
    return { error: err };
  });
  // Responses are built by our own code from typed rows; plain JSON keeps them fast.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}

const isZod = (s: unknown): s is z.ZodType => typeof s === "object" && s !== null && "safeParse" in s;

/** @fastify/swagger transform: zod schemas → JSON Schema in the OpenAPI document. */
export function zodToOpenApi({ schema, url }: { schema: FastifySchema; url: string }) {
  if (!schema) return { schema, url };
  const out: Record<string, unknown> = { ...schema };
  for (const part of ["querystring", "params", "headers", "body"] as const) {
    const s = schema[part];
    if (isZod(s)) out[part] = z.toJSONSchema(s, { io: "input", unrepresentable: "any" });
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
  if (schema.response && typeof schema.response === "object") {
    out.response = Object.fromEntries(
      Object.entries(schema.response as Record<string, unknown>).map(([code, s]) => [
        code,
        isZod(s) ? z.toJSONSchema(s, { io: "output", unrepresentable: "any" }) : s,
      ]),
    );
  }
  return { schema: out as FastifySchema, url };
}
