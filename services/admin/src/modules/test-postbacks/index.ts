import type { Bus } from "@roundtrip/bus";
import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import { Elysia } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { assertCanRead } from "../../visibility.ts";
import { traceView } from "../trace/index.ts";
import { FireTestPostback, Fired, Steps, StepsQuery } from "./model.ts";
import { fireTestPostback, testPostbackSteps } from "./service.ts";

const POLL_MS = 500;
const STREAM_LIMIT_MS = 120_000;

/**
 * The operator test tool: fire a test postback for an advertiser through the real gateway, then
 * watch each decision — gateway, click ID, dedup, attribution, booking, affiliate postback — by
 * polling `/steps` or as server-sent events from `/stream`.
 */
export function testPostbacks(deps: { sql: Sql; bus: Bus; codec: ClickIdCodec | null; gatewayUrl: string }) {
  const { sql, codec } = deps;
  return new Elysia({ prefix: "/v1/test-postbacks", tags: ["test-postbacks"] })
    .use(authentication(sql))
    .post(
      "/",
      async ({ body, principal }) => {
        assertCanWrite(principal);
        const fired = await fireTestPostback(deps, body, actor(principal));
        const watch = new URLSearchParams({
          advertiser_id: fired.advertiser_id,
          txid: fired.txid,
          click_id: fired.click_id,
        });
        return { ...fired, watch: `/v1/test-postbacks/steps?${watch}` };
      },
      {
        body: FireTestPostback,
        response: { 200: Fired },
        detail: {
          summary: "Fire a test postback for an offer's advertiser through the real gateway",
          description:
            "With a fresh txid and the advertiser's token (used once, kept nowhere). Without click_id, a click ID is minted for the " +
            "tool's own link on the offer (a test affiliate: reports and payouts skip it). The gateway's answer is returned as is; " +
            "then follow `watch`. Admin and manager.",
        },
      },
    )
    .get(
      "/steps",
      async ({ query, principal }) => {
        const shown = traceView(principal);
        const result = await testPostbackSteps(sql, codec, query);
        return { ...result, trace: shown(result.trace) };
      },
      {
        query: StepsQuery,
        response: { 200: Steps },
        detail: {
          summary: "Each decision on a test postback so far",
          description:
            "Steps auth, click_id, dedup, attribution, booking, delivery: passed, failed, waiting or skipped, with the reason; done when none waits.",
        },
      },
    )
    .get(
      "/stream",
      ({ query, principal, request }) => {
        // The role is checked before the stream begins (an error later could only end the stream).
        assertCanRead("trace", principal);
        const encoder = new TextEncoder();
        const stream = new ReadableStream<Uint8Array>({
          async start(controller) {
            const until = Date.now() + STREAM_LIMIT_MS;
            let last = "";
            try {
              while (!request.signal.aborted && Date.now() < until) {
                const { steps, done } = await testPostbackSteps(sql, codec, query);
                const text = JSON.stringify({ steps, done });
                if (text !== last) controller.enqueue(encoder.encode(`event: steps\ndata: ${text}\n\n`));
                else controller.enqueue(encoder.encode(": waiting\n\n"));
                last = text;
                if (done) break;
                await Bun.sleep(POLL_MS);
              }
              controller.enqueue(encoder.encode("event: end\ndata: {}\n\n"));
            } catch (err) {
              controller.enqueue(
                encoder.encode(
                  `event: error\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`,
                ),
              );
            } finally {
              controller.close();
            }
          },
        });
        return new Response(stream, {
          headers: {
            "content-type": "text/event-stream",
            "cache-control": "no-store",
            "x-accel-buffering": "no",
          },
        });
      },
      {
        query: StepsQuery,
        detail: {
          summary: "The same steps as server-sent events, as they change",
          description:
            "`event: steps` with {steps, done} whenever a step changes; `event: end` when done (or after 2 minutes).",
          responses: {
            200: {
              description: "server-sent events",
              content: {
                "text/event-stream": {
                  schema: { type: "string" },
                  example: 'event: steps\ndata: {"steps":[],"done":false}\n\n',
                },
              },
            },
          },
        },
      },
    );
}
