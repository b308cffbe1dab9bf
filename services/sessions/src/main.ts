import { runService } from "@idp/runtime";
import { sessionsService } from "./index.ts";

await runService(sessionsService);
