import { runService } from "@idp/runtime";
import { grantsService } from "./index.ts";

await runService(grantsService);
