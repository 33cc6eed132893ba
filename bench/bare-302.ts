// The baseline for the click redirect: a bare Bun.serve answering 302, nothing else.
const port = Number(process.env.PORT ?? 9301);
Bun.serve({
  port,
  hostname: "127.0.0.1",
  fetch: () =>
    new Response(null, { status: 302, headers: { location: "https://casino.example/landing?cid=x" } }),
});
console.log(`bare-302 listening on ${port}`);
