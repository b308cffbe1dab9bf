import { fileURLToPath } from "node:url";
import { catalog } from "@idp/events";
import type { ServiceDefinition } from "@idp/runtime";
import { sessions } from "./projection.ts";
import { sessionRoutes } from "./routes.ts";

export const sessionsService: ServiceDefinition = {
  name: "sessions",
  defaultPort: 8082,
  projection: sessions,
  catalog,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
  routes: sessionRoutes,
};

export * from "./projection.ts";
