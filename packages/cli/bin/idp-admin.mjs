#!/usr/bin/env node
// The CLI is TypeScript; tsx compiles it on the fly like every other entry point of the monorepo.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
