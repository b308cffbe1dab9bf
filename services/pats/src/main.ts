import { runService } from "@idp/runtime";
import { patsService } from "./index.ts";

await runService(patsService);
