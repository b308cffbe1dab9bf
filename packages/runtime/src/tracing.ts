// Traces in OpenTelemetry's terms. The W3C `traceparent` travels from the producer SDK's publish span in
// every Kafka record's headers into the projector's apply span, and from a client's request into the query
// API's server span. Off by default: without a registered provider every span below is a no-op, so the
// hot paths pay a function call. OTEL_TRACES_EXPORTER=otlp (or an OTLP endpoint) exports over OTLP/HTTP.

import { TRACE_CONTEXT_HEADER } from "@idp/events";
import {
  type Context,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, TracerProvider } from "@opentelemetry/sdk-trace";

/** The record / request header carrying the W3C trace context. */
export const TRACE_HEADER = TRACE_CONTEXT_HEADER.parent;

export const tracer = () => trace.getTracer("idp-projectors");

/**
 * Registers a tracer provider for this process (once; later calls keep the first). `exporter` is for
 * tests (spans exported one by one); otherwise spans go in batches to the OTLP/HTTP exporter, which reads
 * the standard OTEL_EXPORTER_OTLP_* variables.
 */
export function registerTracing(serviceName: string, exporter?: SpanExporter): { shutdown(): Promise<void> } {
  if (registered) return registered;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName }),
    spanProcessors: [exporter ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  registered = { shutdown: () => provider.shutdown() };
  return registered;
}
let registered: { shutdown(): Promise<void> } | undefined;

/** Whether a provider is registered: without one, callers skip parsing trace headers. */
export const isTracing = () => registered !== undefined;

/** The active trace context as headers (`traceparent`, `tracestate`); empty while tracing is off. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

// Header values may arrive as arrays (HTTP) or be absent; the first value counts.
const headerGetter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key];
    return Array.isArray(v) ? v[0] : v;
  },
};

/** The trace context that `headers` carry (the root context when they carry none or a malformed one). */
export const contextFromHeaders = (headers: Record<string, string | string[] | undefined>): Context => propagation.extract(ROOT_CONTEXT, headers, headerGetter);

/** Runs `fn` in a span that ends with it (error status and the exception when it throws). */
export async function inSpan<T>(
  name: string,
  options: { kind: SpanKind; parent?: Context; links?: Link[]; attributes?: Record<string, string | number | boolean> },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(
    name,
    { kind: options.kind, ...(options.links ? { links: options.links } : {}), ...(options.attributes ? { attributes: options.attributes } : {}) },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
    throw err;
  } finally {
    span.end();
  }
}

/** Most upstream contexts a batch's apply span links to (a batch of thousands need not carry thousands). */
const MAX_LINKS = 32;

/**
 * Where an apply span of these records' batch belongs: the producer's context when every record carries
 * the same one (a child of the publish), else the root with links to the distinct upstream spans.
 */
export function batchTraceParent(traceparents: readonly (string | undefined)[]): { parent: Context; links: Link[] } {
  if (!registered) return { parent: ROOT_CONTEXT, links: [] };
  const distinct = [...new Set(traceparents.filter((t): t is string => t !== undefined))];
  const contexts = distinct.slice(0, MAX_LINKS).flatMap((t) => {
    const sc = trace.getSpanContext(contextFromHeaders({ [TRACE_HEADER]: t }));
    return sc ? [sc] : [];
  });
  if (contexts.length === 1 && distinct.length === 1) return { parent: trace.setSpanContext(ROOT_CONTEXT, contexts[0] as never), links: [] };
  return { parent: ROOT_CONTEXT, links: contexts.map((c) => ({ context: c })) };
}

export { SpanKind };
