import { fileURLToPath } from "node:url";
import { catalog } from "@idp/events";
import type { ServiceDefinition } from "@idp/runtime";
import { grants } from "./projection.ts";
import { grantRoutes } from "./routes.ts";

export const grantsService: ServiceDefinition = {
  name: "grants",
  defaultPort: 8083,
  projection: grants,
  catalog,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
  routes: grantRoutes,
};

export * from "./projection.ts";
