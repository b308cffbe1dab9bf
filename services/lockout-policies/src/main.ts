import { runService } from "@idp/runtime";
import { lockoutPoliciesService } from "./index.ts";

await runService(lockoutPoliciesService);
