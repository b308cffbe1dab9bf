import { signToken } from "./service.ts";

/** Calls a service's admin API with an operator token (scope projections:admin, no instance). */
// biome-ignore lint/suspicious/noExplicitAny: a JSON response; the tests' assertions check its shape
export async function adminCall(baseUrl: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const token = await signToken({ instanceId: "", scope: "projections:admin" });
  const res = await fetch(`${baseUrl}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

/** Polls GET /admin/rebuild until the rebuild is done or failed. */
// biome-ignore lint/suspicious/noExplicitAny: a JSON response; the tests' assertions check its shape
export async function waitForRebuild(baseUrl: string, timeoutMs = 120_000, onTick?: (status: any) => Promise<void>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await adminCall(baseUrl, "GET", "/rebuild");
    if (json.state === "done" || json.state === "failed") return json;
    if (Date.now() > deadline) throw new Error(`rebuild not finished: ${JSON.stringify(json)}`);
    await onTick?.(json);
    await new Promise((r) => setTimeout(r, 100));
  }
}
