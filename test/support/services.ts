// Every projector service of the repo, discovered from services/*/src/index.ts, so that cross-cutting
// tests (tenant isolation, RLS coverage, fuzzing) cover services added later without being edited.

import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ServiceDefinition } from "@idp/runtime";

const servicesDir = fileURLToPath(new URL("../../services", import.meta.url));

const isService = (v: unknown): v is ServiceDefinition => typeof v === "object" && v !== null && "projection" in v && "routes" in v && "migrationsDir" in v;

export async function allServices(): Promise<ServiceDefinition[]> {
  const out: ServiceDefinition[] = [];
  for (const dir of readdirSync(servicesDir).sort()) {
    const mod = (await import(`${servicesDir}/${dir}/src/index.ts`)) as Record<string, unknown>;
    const def = Object.values(mod).find(isService);
    if (!def) throw new Error(`services/${dir}/src/index.ts exports no ServiceDefinition`);
    out.push(def);
  }
  return out;
}
