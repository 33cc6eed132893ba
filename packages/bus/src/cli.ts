import { loadConfigOrExit, t } from "@roundtrip/config";
import { createSql } from "@roundtrip/db";
import { connectBus } from "./connection.ts";
import { listDeadLetters, replayDeadLetter } from "./deadletter.ts";
import { provision } from "./provision.ts";

const USAGE = `usage: bun packages/bus/src/cli.ts <command>
  provision                create or update every stream and durable consumer (idempotent)
  dead-letters [limit]     list dead letters, oldest first (JSON lines)
  replay <seq>             re-publish dead letter <seq> to its original subject and remove it`;

const [command, arg] = process.argv.slice(2);
if (command !== "provision" && command !== "dead-letters" && command !== "replay") {
  console.error(USAGE);
  process.exit(64); // EX_USAGE
}

const env = loadConfigOrExit(
  t.Object({
    NATS_URL: t.String({ minLength: 1 }),
    BUS_PREFIX: t.String({ pattern: "^[A-Za-z0-9_]*$", default: "" }),
    // R3 in a 3-node cluster; 1 on a single server.
    BUS_REPLICAS: t.Integer({ minimum: 1, maximum: 5, default: 1 }),
    // For replay: clears the event's parking (bus_dead_letters), so the outbox reconciler
    // re-publishes it again should the broker lose the replayed copy.
    DATABASE_URL: t.Optional(t.String({ pattern: "^postgres(ql)?://" })),
  }),
  "bus",
);

// A provisioning job may start before the broker answers: wait for it (about a minute) rather
// than fail the rollout at once.
const bus = await connectBus({
  url: env.NATS_URL,
  prefix: env.BUS_PREFIX,
  name: "roundtrip-bus-cli",
  firstConnectTimeoutMs: 60_000,
}).catch((err: Error) => {
  // Not the URL itself: it may carry credentials.
  console.error(`bus ${command}: cannot reach NATS (NATS_URL): ${err.message}`);
  process.exit(69); // EX_UNAVAILABLE
});
try {
  if (command === "provision") {
    const { streams, consumers } = await provision(bus, { overrides: { replicas: env.BUS_REPLICAS } });
    console.log(`provisioned streams ${streams.join(", ")}; consumers ${consumers.join(", ")}`);
  } else if (command === "dead-letters") {
    for (const dl of await listDeadLetters(bus, { limit: arg ? Number(arg) : 100 }))
      console.log(JSON.stringify(dl));
  } else {
    const seq = Number(arg);
    if (!Number.isInteger(seq) || seq < 1) {
      console.error(USAGE);
      process.exitCode = 64;
    } else {
      const sql = env.DATABASE_URL
        ? createSql(env.DATABASE_URL, { max: 1, application: "roundtrip-bus-cli" })
        : undefined;
      if (!sql)
        console.error("bus replay: DATABASE_URL not set; the event's parking is left to its handling");
      const ack = await replayDeadLetter(bus, seq, { sql }).finally(() => sql?.end());
      console.log(
        `replayed dead letter ${seq} as ${ack.stream}#${ack.seq}${ack.duplicate ? " (duplicate)" : ""}`,
      );
    }
  }
} catch (err) {
  console.error(`bus ${command}: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await bus.close();
}
