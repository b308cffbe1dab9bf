import { runService } from "@idp/runtime";
import { usersService } from "./index.ts";

await runService(usersService);
