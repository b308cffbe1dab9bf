import { runService } from "@idp/runtime";
import { authMethodsService } from "./index.ts";

await runService(authMethodsService);
