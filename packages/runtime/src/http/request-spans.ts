// One server span per request when tracing is on: a child of the caller's `traceparent` when it sends
// one, named by the route's pattern (never the raw URL), with the status code it answered.
import { type Span, SpanStatusCode } from "@opentelemetry/api";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { contextFromHeaders, isTracing, SpanKind, tracer } from "../tracing.ts";

export function registerRequestSpans(app: FastifyInstance): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook("onRequest", async (req) => {
    if (!isTracing()) return;
    const route = req.routeOptions.url ?? "unmatched";
    const span = tracer().startSpan(
      `${req.method} ${route}`,
      { kind: SpanKind.SERVER, attributes: { "http.request.method": req.method, "http.route": route, "url.path": req.url.split("?")[0] ?? "" } },
      contextFromHeaders(req.headers),
    );
    spans.set(req, span);
  });
  app.addHook("onResponse", async (req, reply) => {
    const span = spans.get(req);
    if (!span) return;
    span.setAttribute("http.response.status_code", reply.statusCode);
    if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
}
