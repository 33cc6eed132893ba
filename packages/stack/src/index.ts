export {
  type Dependency,
  EMBEDDED_NATS_PORT,
  EMBEDDED_POSTGRES_PORT,
  ensureNats,
  ensurePostgres,
} from "./embedded.ts";
export { isStackError, StackError, type StackErrorCode } from "./errors.ts";
export { type LogOptions, ProcessLog } from "./log.ts";
export { NatsCluster, type NatsClusterOptions } from "./nats-cluster.ts";
export {
  type NatsClusterMember,
  NatsServer,
  type NatsServerOptions,
  startNatsServer,
} from "./nats-server.ts";
export { DATA_DIR, REPO_ROOT } from "./paths.ts";
export { choosePort, portHolder, portTaken, processAlive } from "./port-holder.ts";
export { freePort, freePorts, freePortsFor } from "./ports.ts";
export {
  createDatabaseIfMissing,
  databaseName,
  probeNats,
  probePostgres,
  tcpAnswers,
  withDatabase,
} from "./probe.ts";
export {
  childEnv,
  type ProcessHandle,
  runCommand,
  type ServiceHandle,
  spawnProcess,
  startService,
  type StopResult,
  stop,
  waitReady,
} from "./process.ts";
export { DEFAULT_PORTS, isServiceName, SERVICE_NAMES, type ServiceName } from "./services.ts";
export { type Stack, type StackOptions, startStack } from "./stack.ts";
