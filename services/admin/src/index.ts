import { runService } from "@roundtrip/service";
import { adminEnv, buildAdmin } from "./service.ts";

await runService("admin", adminEnv, buildAdmin);
