import { runService } from "@roundtrip/service";
import { buildGateway, gatewayEnv } from "./service.ts";

await runService("gateway", gatewayEnv, buildGateway);
