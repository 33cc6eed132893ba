import { runService } from "@roundtrip/service";
import { ADMIN_POSTGRES_SETTINGS, adminEnv, buildAdmin } from "./service.ts";

await runService("admin", adminEnv, buildAdmin, { postgresSettings: ADMIN_POSTGRES_SETTINGS });
