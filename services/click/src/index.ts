import { runService } from "@roundtrip/service";
import { buildClick, clickEnv } from "./service.ts";

await runService("click", clickEnv, buildClick);
