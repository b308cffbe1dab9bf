import { fileURLToPath } from "node:url";
import { catalog } from "@idp/events";
import type { ServiceDefinition } from "@idp/runtime";
import { users } from "./projection.ts";
import { userRoutes } from "./routes.ts";

export const usersService: ServiceDefinition = {
  name: "users",
  defaultPort: 8081,
  projection: users,
  catalog,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
  routes: userRoutes,
};

export * from "./projection.ts";
