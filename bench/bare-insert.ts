// The baseline for postback intake: a bare Bun.serve that inserts one row and commits before
// answering 200, through the same client and pool size the gateway uses.
import { createSql } from "@roundtrip/db";

const port = Number(process.env.PORT ?? 9302);
const sql = createSql(process.env.DATABASE_URL as string, {
  max: Number(process.env.DATABASE_POOL_MAX ?? 10),
  application: "bench-bare",
});
await sql`create table if not exists bench_bare_insert (id bigint generated always as identity primary key, k text not null, at timestamptz not null default now())`;
Bun.serve({
  port,
  hostname: "127.0.0.1",
  async fetch(req) {
    const k = new URL(req.url).searchParams.get("k") ?? "";
    const [row] = await sql`insert into bench_bare_insert (k) values (${k}) returning id`;
    return Response.json({ status: "accepted", id: row?.id });
  },
});
console.log(`bare-insert listening on ${port}`);
