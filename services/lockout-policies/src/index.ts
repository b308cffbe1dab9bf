import { fileURLToPath } from "node:url";
import { catalog } from "@idp/events";
import type { ServiceDefinition } from "@idp/runtime";
import { lockoutPolicies } from "./projection.ts";
import { lockoutPolicyRoutes } from "./routes.ts";

export const lockoutPoliciesService: ServiceDefinition = {
  name: "lockout-policies",
  defaultPort: 8086,
  projection: lockoutPolicies,
  catalog,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
  routes: lockoutPolicyRoutes,
};

export * from "./projection.ts";
