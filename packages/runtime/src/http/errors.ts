// The one error body of every API: { code, message, details?, requestId }. Never a stack or SQL.
import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyError, FastifyInstance } from "fastify";
import { z } from "zod";
import { DomainError } from "../errors.ts";

export class ApiError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly details?: unknown;
  readonly headers?: Record<string, string>;

  constructor(statusCode: number, code: string, message: string, details?: unknown, headers?: Record<string, string>) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

export const badRequest = (message: string, details?: unknown) => new ApiError(400, "invalid_argument", message, details);
export const notFound = (message: string) => new ApiError(404, "not_found", message);
export const unauthenticated = (message: string) =>
  new ApiError(401, "unauthenticated", message, undefined, { "www-authenticate": 'Bearer realm="idp-projectors"' });
export const forbidden = (message: string) => new ApiError(403, "permission_denied", message);

const STATUS_BY_KIND: Record<DomainError["kind"], number> = { conflict: 409, invalid: 400, not_found: 404 };

/** The HTTP form of a runtime domain error; other errors pass unchanged. */
export const fromDomainError = (err: unknown) => (err instanceof DomainError ? new ApiError(STATUS_BY_KIND[err.kind], err.reason, err.message) : err);

const CODE_BY_STATUS: Record<number, string> = {
  400: "invalid_argument",
  401: "unauthenticated",
  403: "permission_denied",
  404: "not_found",
  405: "method_not_allowed",
  406: "not_acceptable",
  408: "request_timeout",
  413: "payload_too_large",
  415: "unsupported_media_type",
  431: "request_header_fields_too_large",
  429: "rate_limited",
  503: "unavailable",
};

const fieldViolation = z.object({ field: z.string(), message: z.string() }).meta({ id: "FieldViolation" });

/** The error body as a named schema: every documented error response refers to it. */
export const errorBodySchema = z
  .object({
    code: z.string().describe("machine-readable reason, e.g. invalid_argument, not_found, rebuild_running"),
    message: z.string(),
    details: z
      .union([z.array(fieldViolation), z.record(z.string(), z.unknown())])
      .optional()
      .describe("validation errors: one entry per field; conflicts: what the request conflicts with"),
    requestId: z.string().describe("also in the x-request-id header"),
  })
  .meta({ id: "Error" });

/**
 * What Node's HTTP parser refuses before a request exists (a request line and headers over its 16 KiB
 * limit, a malformed request, a client too slow to send one) gets the same body, with a fresh request id,
 * written on the socket, which is then closed.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || err.code === "EPIPE" || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  const requestId = randomUUID();
  const message =
    status === 431 ? "the request line and headers exceed 16 KiB" : status === 408 ? "the request did not arrive in time" : "malformed HTTP request";
  const body = JSON.stringify({ code: CODE_BY_STATUS[status], message, requestId });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export function registerErrorHandling(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError & Partial<ApiError>, req, reply) => {
    const err = fromDomainError(error) as FastifyError & Partial<ApiError>;
    let status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    let code = err instanceof ApiError ? err.code : (CODE_BY_STATUS[status] ?? "internal");
    let message = err.message;
    let details = err instanceof ApiError ? err.details : undefined;
    if (err.validation || err.code === "FST_ERR_VALIDATION") {
      status = 400;
      code = "invalid_argument";
      details = (err as { details?: unknown }).details ?? err.validation;
    }
    if (status >= 500 && !(err instanceof ApiError)) {
      // Unexpected failures: logged in full, answered without internals (no stack, no SQL).
      req.log.error({ err }, "request failed");
      code = status === 503 ? "unavailable" : "internal";
      message = status === 503 ? err.message : "internal error";
      details = undefined;
    } else if (status !== 404) {
      req.log.info({ code, message }, "request rejected");
    }
    if (err instanceof ApiError && err.headers) reply.headers(err.headers);
    reply.status(status).send({ code, message, ...(details === undefined ? {} : { details }), requestId: req.id });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ code: "not_found", message: `no route ${req.method} ${req.url.split("?")[0]}`, requestId: req.id });
  });
}
