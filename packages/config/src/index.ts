export { ConfigError, loadConfig, loadConfigOrExit } from "./load.ts";
export { serviceEnv, type ServiceEnv } from "./service-env.ts";
export { Type as t } from "@sinclair/typebox";
