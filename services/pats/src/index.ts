import { fileURLToPath } from "node:url";
import { catalog } from "@idp/events";
import type { ServiceDefinition } from "@idp/runtime";
import { pats } from "./projection.ts";
import { patRoutes } from "./routes.ts";

export const patsService: ServiceDefinition = {
  name: "pats",
  defaultPort: 8085,
  projection: pats,
  catalog,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
  routes: patRoutes,
};

export * from "./projection.ts";
