import { fileURLToPath } from "node:url";
import { catalog } from "@idp/events";
import type { ServiceDefinition } from "@idp/runtime";
import { authMethods } from "./projection.ts";
import { authMethodRoutes } from "./routes.ts";

export const authMethodsService: ServiceDefinition = {
  name: "auth-methods",
  defaultPort: 8084,
  projection: authMethods,
  catalog,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
  routes: authMethodRoutes,
};

export * from "./projection.ts";
