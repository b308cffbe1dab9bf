// Traces through real Kafka, PostgreSQL and HTTP: a publish made inside a caller's span carries the W3C
// trace context in its records' headers; the projector's apply span joins that trace as a child of the
// publish; a query that sends `traceparent` gets a server span in the caller's trace, named by its route.
import * as ev from "@idp/events";
import { batchTraceParent, inSpan, registerTracing, SpanKind, TRACE_HEADER } from "@idp/runtime";
import { trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { aggregate } from "../support/events.ts";
import { startTestService, type TestService, waitForPositions } from "../support/service.ts";

const exporter = new InMemorySpanExporter();
let t: TestService;
const inst = "trace-inst";

beforeAll(async () => {
  // Each test file runs in a process of its own (vitest forks), so this provider is this file's alone.
  registerTracing("tracing-test", exporter);
  t = await startTestService(usersService);
});
afterAll(async () => t?.close());

async function spanNamed(name: string, where: (s: ReadableSpan) => boolean = () => true, timeoutMs = 30_000): Promise<ReadableSpan> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = exporter.getFinishedSpans().find((s) => s.name === name && where(s));
    if (found) return found;
    if (Date.now() > deadline)
      throw new Error(
        `no span ${name}; spans: ${exporter
          .getFinishedSpans()
          .map((s) => s.name)
          .join(", ")}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("tracing", () => {
  it("joins the projector's apply span to the trace of the publish that wrote the events", async () => {
    const ada = aggregate(inst, "u-ada", "org-1");
    const { traceId, spanId, positions } = await inSpan("register user", { kind: SpanKind.INTERNAL }, async (span) => ({
      ...span.spanContext(),
      positions: await t.publisher.publish([
        ada(ev.userHumanAdded, { userName: "ada", firstName: "Ada", lastName: "L", displayName: "Ada", email: "a@x.com", changeRequired: false }),
      ]),
    }));
    await waitForPositions(t.svc.pool, usersService.projection.name, positions);

    const publish = await spanNamed(`publish ${t.topic}`);
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(publish.spanContext().traceId).toBe(traceId);
    expect(publish.parentSpanContext?.spanId).toBe(spanId);

    const apply = await spanNamed(`apply ${usersService.projection.name}`, (s) => s.spanContext().traceId === traceId);
    expect(apply.kind).toBe(SpanKind.CONSUMER);
    expect(apply.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(apply.attributes["messaging.destination.name"]).toBe(t.topic);
    expect(apply.attributes["idp.applied"]).toBe(1);
  });

  it("answers a query in a server span that is a child of the caller's traceparent", async () => {
    const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpan = "00f067aa0ba902b7";
    const res = await t.get("/v1/users?limit=5", inst, { headers: { [TRACE_HEADER]: `00-${callerTrace}-${callerSpan}-01` } });
    expect(res.status).toBe(200);
    const server = await spanNamed("GET /v1/users", (s) => s.spanContext().traceId === callerTrace);
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.parentSpanContext?.spanId).toBe(callerSpan);
    expect(server.attributes["http.route"]).toBe("/v1/users");
    expect(server.attributes["http.response.status_code"]).toBe(200);
    // The raw query string (cursors, filters) is not a span attribute.
    expect(JSON.stringify(server.attributes)).not.toContain("limit=5");
  });

  it("names a route by its pattern, never by the ids in the path", async () => {
    const res = await t.get("/v1/users/u-ada", inst);
    expect(res.status).toBe(200);
    const server = await spanNamed("GET /v1/users/:userId");
    expect(server.name).not.toContain("u-ada");
  });

  it("parents a batch of one trace on it, and links a batch of several traces to each", () => {
    const a = "00-11111111111111111111111111111111-2222222222222222-01";
    const b = "00-33333333333333333333333333333333-4444444444444444-01";
    const one = batchTraceParent([a, a, undefined]);
    expect(trace.getSpanContext(one.parent)?.spanId).toBe("2222222222222222");
    expect(one.links).toEqual([]);
    const several = batchTraceParent([a, b, "not a traceparent"]);
    expect(trace.getSpanContext(several.parent)).toBeUndefined();
    expect(several.links.map((l) => l.context.spanId).sort()).toEqual(["2222222222222222", "4444444444444444"]);
  });
});
