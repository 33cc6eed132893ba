import { resolve } from "node:path";

/** The monorepo root: this file lives in packages/stack/src. */
export const REPO_ROOT = resolve(import.meta.dir, "../../..");

/** Where local state (embedded PostgreSQL, NATS store, secrets) lives; git-ignored. */
export const DATA_DIR = resolve(REPO_ROOT, ".data");
