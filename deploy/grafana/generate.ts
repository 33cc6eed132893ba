// Generates the Grafana dashboards: the business overview, the pipeline, and one RED dashboard per
// service from a single template. The output is committed twice — deploy/grafana/*.json and the
// chart's helm/roundtrip/files/dashboards/*.json — and deploy/test checks both equal this output.
//
//   bun deploy/grafana/generate.ts          write the files
//   bun deploy/grafana/generate.ts --check  exit 1 when a committed file differs
//
// Queries use only the metric names of docs/internals.md, prom-client's default metrics and `up`,
// and never the recording rules, so they work on a Prometheus that has not loaded rules.yml.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SERVICES = ["admin", "click", "gateway", "attribution", "commission", "delivery"] as const;
export type Service = (typeof SERVICES)[number];

const REPO = join(import.meta.dir, "..", "..");
export const OUTPUT_DIRS = [
  join(REPO, "deploy", "grafana"),
  join(REPO, "helm", "roundtrip", "files", "dashboards"),
];

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
const DATASOURCE = { type: "prometheus", uid: "${datasource}" };
const ALL_SERVICES = SERVICES.join("|");
const NS = 'namespace=~"$namespace"';
// A rare event (a 5xx, a dead letter) has no series until it first happens; `or on() vector(0)`
// draws 0 instead of "No data" and adds nothing once the series exists.
const orZero = (expr: string) => `(${expr}) or on() vector(0)`;

type Unit = "short" | "reqps" | "ops" | "percentunit" | "s" | "bytes" | "none";

interface Target {
  expr: string;
  legend?: string;
}

interface PanelSpec {
  title: string;
  description: string;
  kind: "timeseries" | "stat" | "table";
  unit: Unit;
  targets: Target[];
  width?: number;
  height?: number;
  // Stat thresholds: [color, from] pairs, the first from being null (the base).
  thresholds?: [string, number | null][];
  // Timeseries: draw the thresholds as dashed lines (e.g. the 98 % launch threshold).
  showThresholds?: boolean;
  min?: number;
  max?: number;
}

interface RowSpec {
  title: string;
  panels: PanelSpec[];
}

interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  file: string;
  rows: RowSpec[];
  // Extra template variables after datasource and namespace.
  variables?: object[];
}

const ts = (p: Omit<PanelSpec, "kind">): PanelSpec => ({ kind: "timeseries", ...p });
const stat = (p: Omit<PanelSpec, "kind">): PanelSpec => ({ kind: "stat", width: 4, height: 4, ...p });

const ratioThresholds: [string, number | null][] = [
  ["red", null],
  ["orange", 0.95],
  ["green", 0.98],
];

function rate(metric: string, selector: string, by?: string): string {
  const inner = `rate(${metric}{${selector}}[$__rate_interval])`;
  return by === undefined ? `sum(${inner})` : `sum by (${by}) (${inner})`;
}

function quantile(q: number, metric: string, selector: string, by = ""): string {
  const labels = by ? `${by}, le` : "le";
  return `histogram_quantile(${q}, sum by (${labels}) (rate(${metric}_bucket{${selector}}[$__rate_interval])))`;
}

// ---------------------------------------------------------------------------------------------
// Panels: pure data. Layout, ids and Grafana's JSON shape are added by `render`.

function overview(): DashboardSpec {
  const postbackOk = `sum(increase(roundtrip_postbacks_total{${NS}, outcome=~"accepted|duplicate"}[$__range]))`;
  const postbackAll = `sum(increase(roundtrip_postbacks_total{${NS}}[$__range]))`;
  const deliveryOk = `sum(increase(roundtrip_deliveries_total{${NS}, outcome="delivered"}[$__range]))`;
  const deliveryAll = `sum(increase(roundtrip_deliveries_total{${NS}, outcome=~"delivered|failed|dead_lettered"}[$__range]))`;
  return {
    uid: "roundtrip-overview",
    title: "Roundtrip / Overview",
    description:
      "The business flow: clicks → conversions → payouts, and the success rates of postback intake and delivery.",
    tags: ["roundtrip", "business"],
    file: "roundtrip-overview.json",
    rows: [
      {
        title: "Selected time range",
        panels: [
          stat({
            title: "Clicks recorded",
            description: "Clicks recorded (bots and unknown links excluded) in the selected range.",
            unit: "short",
            targets: [{ expr: `sum(increase(roundtrip_clicks_total{${NS}, outcome="recorded"}[$__range]))` }],
          }),
          stat({
            title: "Conversions",
            description: "Conversions booked by attribution, every event and status.",
            unit: "short",
            targets: [{ expr: `sum(increase(roundtrip_conversions_total{${NS}}[$__range]))` }],
          }),
          stat({
            title: "Payouts booked",
            description: "Affiliate payouts from commission ledger entries, per currency (major units).",
            unit: "short",
            targets: [
              {
                expr: `sum by (currency) (increase(roundtrip_ledger_amount_total{${NS}, kind="payout", type="commission"}[$__range]))`,
                legend: "{{currency}}",
              },
            ],
          }),
          stat({
            title: "Postback success rate",
            description:
              "Accepted and duplicate postbacks over all postbacks. Below 98 % is the launch alarm.",
            unit: "percentunit",
            thresholds: ratioThresholds,
            targets: [{ expr: `${postbackOk} / ${postbackAll}` }],
          }),
          stat({
            title: "Delivery success rate",
            description:
              "Delivered over delivered + failed + dead-lettered outbound postbacks (retries excluded).",
            unit: "percentunit",
            thresholds: ratioThresholds,
            targets: [{ expr: `${deliveryOk} / ${deliveryAll}` }],
          }),
          stat({
            title: "Targets up",
            description: "Scraped Roundtrip processes that answer, over all scraped Roundtrip processes.",
            unit: "percentunit",
            thresholds: [
              ["red", null],
              ["green", 1],
            ],
            targets: [
              {
                expr: `sum(up{service=~"${ALL_SERVICES}", ${NS}}) / count(up{service=~"${ALL_SERVICES}", ${NS}})`,
              },
            ],
          }),
        ],
      },
      {
        title: "Clicks → conversions → payouts",
        panels: [
          ts({
            title: "Clicks by outcome",
            description: "Tracking-link hits per second: recorded, bot, not_found.",
            unit: "reqps",
            width: 8,
            targets: [{ expr: rate("roundtrip_clicks_total", NS, "outcome"), legend: "{{outcome}}" }],
          }),
          ts({
            title: "Conversions by event and status",
            description: "Conversions booked per second.",
            unit: "ops",
            width: 8,
            targets: [
              {
                expr: rate("roundtrip_conversions_total", NS, "event, status"),
                legend: "{{event}} {{status}}",
              },
            ],
          }),
          ts({
            title: "Payouts and revenue per hour",
            description: "Ledger amounts per hour by kind, entry type and currency (major units).",
            unit: "short",
            width: 8,
            targets: [
              {
                expr: `${rate("roundtrip_ledger_amount_total", NS, "kind, type, currency")} * 3600`,
                legend: "{{kind}} {{type}} {{currency}}",
              },
            ],
          }),
          ts({
            title: "Ledger entries by type",
            description: "Commission, reversal and adjustment entries written per second.",
            unit: "ops",
            width: 12,
            targets: [{ expr: rate("roundtrip_ledger_entries_total", NS, "type"), legend: "{{type}}" }],
          }),
          ts({
            title: "Conversions rejected and duplicates",
            description:
              "Conversions attribution refused (by reason) and duplicate postbacks it counted instead of booking.",
            unit: "ops",
            width: 12,
            targets: [
              {
                expr: orZero(rate("roundtrip_conversions_rejected_total", NS, "reason")),
                legend: "rejected {{reason}}",
              },
              { expr: orZero(rate("roundtrip_conversion_duplicates_total", NS)), legend: "duplicates" },
            ],
          }),
        ],
      },
      {
        title: "Postback intake",
        panels: [
          ts({
            title: "Postback success rate",
            description:
              "Accepted + duplicate over all postbacks. The dashed line is the 98 % launch threshold.",
            unit: "percentunit",
            thresholds: ratioThresholds,
            showThresholds: true,
            max: 1,
            width: 8,
            targets: [
              {
                expr: `${rate("roundtrip_postbacks_total", `${NS}, outcome=~"accepted|duplicate"`)} / ${rate("roundtrip_postbacks_total", NS)}`,
                legend: "success rate",
              },
            ],
          }),
          ts({
            title: "Postbacks by outcome",
            description: "Advertiser postbacks per second by gateway outcome.",
            unit: "reqps",
            width: 8,
            targets: [{ expr: rate("roundtrip_postbacks_total", NS, "outcome"), legend: "{{outcome}}" }],
          }),
          ts({
            title: "Rejected postbacks by outcome",
            description:
              "Postbacks the gateway refused: unauthorized, forbidden, invalid, unknown_click, rate_limited.",
            unit: "reqps",
            width: 8,
            targets: [
              {
                expr: orZero(
                  rate("roundtrip_postbacks_total", `${NS}, outcome!~"accepted|duplicate"`, "outcome"),
                ),
                legend: "{{outcome}}",
              },
            ],
          }),
          {
            kind: "table",
            title: "Rejected postbacks by advertiser",
            description:
              "The ten advertisers with the most refused postbacks in the selected range — who to call first.",
            unit: "short",
            width: 24,
            targets: [
              {
                expr: orZero(
                  `topk(10, sum by (advertiser, outcome) (increase(roundtrip_postbacks_total{${NS}, outcome!~"accepted|duplicate"}[$__range])))`,
                ),
                legend: "{{advertiser}} {{outcome}}",
              },
            ],
          },
        ],
      },
      {
        title: "Outbound delivery",
        panels: [
          ts({
            title: "Delivery success rate",
            description: "Delivered over delivered + failed + dead-lettered affiliate postbacks.",
            unit: "percentunit",
            thresholds: ratioThresholds,
            showThresholds: true,
            max: 1,
            width: 8,
            targets: [
              {
                expr: `${rate("roundtrip_deliveries_total", `${NS}, outcome="delivered"`)} / ${rate("roundtrip_deliveries_total", `${NS}, outcome=~"delivered|failed|dead_lettered"`)}`,
                legend: "success rate",
              },
            ],
          }),
          ts({
            title: "Deliveries by outcome",
            description: "Affiliate postback attempts per second: delivered, retry, failed, dead_lettered.",
            unit: "ops",
            width: 8,
            targets: [{ expr: rate("roundtrip_deliveries_total", NS, "outcome"), legend: "{{outcome}}" }],
          }),
          ts({
            title: "Delivery attempt latency",
            description: "Latency of one outbound HTTP attempt to an affiliate endpoint.",
            unit: "s",
            width: 8,
            targets: [
              { expr: quantile(0.5, "roundtrip_delivery_attempt_duration_seconds", NS), legend: "p50" },
              { expr: quantile(0.99, "roundtrip_delivery_attempt_duration_seconds", NS), legend: "p99" },
            ],
          }),
        ],
      },
    ],
  };
}

function pipeline(): DashboardSpec {
  return {
    uid: "roundtrip-pipeline",
    title: "Roundtrip / Pipeline",
    description: "NATS JetStream consumers, dead letters and the transactional outbox.",
    tags: ["roundtrip", "pipeline"],
    file: "roundtrip-pipeline.json",
    rows: [
      {
        title: "Consumers",
        panels: [
          ts({
            title: "Pending messages (lag)",
            description: "Messages in the stream not yet delivered to each durable consumer.",
            unit: "short",
            width: 8,
            targets: [
              {
                expr: `max by (stream, consumer) (roundtrip_bus_consumer_pending_messages{${NS}})`,
                legend: "{{consumer}}",
              },
            ],
          }),
          ts({
            title: "Lag growth",
            description:
              "Change of pending messages per second over 10 minutes: above zero the consumers fall behind.",
            unit: "short",
            width: 8,
            targets: [
              {
                expr: `max by (stream, consumer) (deriv(roundtrip_bus_consumer_pending_messages{${NS}}[10m]))`,
                legend: "{{consumer}}",
              },
            ],
          }),
          ts({
            title: "Ack pending",
            description: "Messages delivered to a consumer and not yet acknowledged (in flight or stuck).",
            unit: "short",
            width: 8,
            targets: [
              {
                expr: `max by (stream, consumer) (roundtrip_bus_consumer_ack_pending_messages{${NS}})`,
                legend: "{{consumer}}",
              },
            ],
          }),
          ts({
            title: "Consumed by outcome",
            description: "Messages handled per second: ack, duplicate (already applied), retry, dead_letter.",
            unit: "ops",
            width: 8,
            targets: [
              {
                expr: rate("roundtrip_bus_messages_consumed_total", NS, "consumer, outcome"),
                legend: "{{consumer}} {{outcome}}",
              },
            ],
          }),
          ts({
            title: "Redelivered messages",
            description:
              "Messages the server is redelivering to each consumer (handler failures or ack timeouts).",
            unit: "short",
            width: 8,
            targets: [
              {
                expr: `max by (stream, consumer) (roundtrip_bus_consumer_redelivered_messages{${NS}})`,
                legend: "{{consumer}}",
              },
            ],
          }),
          ts({
            title: "Handler latency p99",
            description: "Time from fetch to commit-and-ack per consumer.",
            unit: "s",
            width: 8,
            targets: [
              {
                expr: quantile(0.99, "roundtrip_bus_handler_duration_seconds", NS, "consumer"),
                legend: "{{consumer}}",
              },
            ],
          }),
        ],
      },
      {
        title: "Dead letters",
        panels: [
          stat({
            title: "Dead letters stored",
            description: "Messages in the dead-letter stream, waiting for a fix and a replay from admin.",
            unit: "short",
            width: 6,
            height: 8,
            thresholds: [
              ["green", null],
              ["red", 1],
            ],
            targets: [{ expr: `max(roundtrip_bus_dead_letter_messages{${NS}})` }],
          }),
          ts({
            title: "Dead-letter stream size",
            description: "Messages in the dead-letter stream over time.",
            unit: "short",
            width: 9,
            targets: [{ expr: `max(roundtrip_bus_dead_letter_messages{${NS}})`, legend: "dead letters" }],
          }),
          ts({
            title: "Retries and dead-lettering",
            description:
              "Messages naked for a retry and messages that exhausted their deliveries, per consumer.",
            unit: "ops",
            width: 9,
            targets: [
              {
                expr: orZero(
                  rate(
                    "roundtrip_bus_messages_consumed_total",
                    `${NS}, outcome=~"retry|dead_letter"`,
                    "consumer, outcome",
                  ),
                ),
                legend: "{{consumer}} {{outcome}}",
              },
            ],
          }),
        ],
      },
      {
        title: "Publishing and outbox",
        panels: [
          ts({
            title: "Published by stream",
            description: "Messages published per second (outbox relays and direct publishes).",
            unit: "ops",
            width: 8,
            targets: [{ expr: rate("roundtrip_bus_published_total", NS, "stream"), legend: "{{stream}}" }],
          }),
          ts({
            title: "Outbox backlog",
            description: "Outbox rows committed in PostgreSQL and not yet published, per service.",
            unit: "short",
            width: 8,
            targets: [
              { expr: `max by (service) (roundtrip_outbox_backlog_messages{${NS}})`, legend: "{{service}}" },
            ],
          }),
          ts({
            title: "Outbox oldest age",
            description:
              "Age of the oldest unpublished outbox row: how late the pipeline is behind the database.",
            unit: "s",
            width: 8,
            targets: [
              {
                expr: `max by (service) (roundtrip_outbox_oldest_age_seconds{${NS}})`,
                legend: "{{service}}",
              },
            ],
          }),
          ts({
            title: "Owed events",
            description:
              "Outbox events some consumer of their stream has not handled yet (owed until handled); parked: dead-lettered, waiting for a replay, never re-published.",
            unit: "short",
            width: 8,
            targets: [
              { expr: `max by (stream) (roundtrip_outbox_owed_messages{${NS}})`, legend: "{{stream}}" },
              {
                expr: `max by (stream) (roundtrip_outbox_owed_parked_messages{${NS}})`,
                legend: "{{stream}} parked",
              },
            ],
          }),
          ts({
            title: "Oldest owed event",
            description:
              "Age of the oldest event not handled by every consumer of its stream (alert after 10 min).",
            unit: "s",
            width: 8,
            targets: [
              {
                expr: `max by (stream) (roundtrip_outbox_owed_oldest_age_seconds{${NS}})`,
                legend: "{{stream}}",
              },
            ],
          }),
          ts({
            title: "Re-published (broker lost them)",
            description:
              "Acknowledged events the broker no longer held, re-published from PostgreSQL by the reconciler.",
            unit: "short",
            width: 8,
            targets: [
              {
                expr: `sum by (stream) (increase(roundtrip_outbox_republished_total{${NS}}[$__rate_interval]))`,
                legend: "{{stream}}",
              },
            ],
          }),
        ],
      },
    ],
  };
}

// Panels only some services have (the metrics they own), appended to their RED dashboard.
function ownPanels(service: Service, sel: string): PanelSpec[] {
  const consumers = () => [
    ts({
      title: "Consumed by outcome",
      description: "Messages this service's durable consumers handled per second.",
      unit: "ops",
      width: 8,
      targets: [
        {
          expr: rate("roundtrip_bus_messages_consumed_total", sel, "consumer, outcome"),
          legend: "{{consumer}} {{outcome}}",
        },
      ],
    }),
    ts({
      title: "Consumer pending messages",
      description: "Backlog of this service's durable consumers.",
      unit: "short",
      width: 8,
      targets: [
        {
          expr: `max by (stream, consumer) (roundtrip_bus_consumer_pending_messages{${sel}})`,
          legend: "{{consumer}}",
        },
      ],
    }),
    ts({
      title: "Handler latency p99",
      description: "Time from fetch to commit-and-ack per consumer.",
      unit: "s",
      width: 8,
      targets: [
        {
          expr: quantile(0.99, "roundtrip_bus_handler_duration_seconds", sel, "consumer"),
          legend: "{{consumer}}",
        },
      ],
    }),
  ];
  const outbox = () => [
    ts({
      title: "Published by stream",
      description: "Messages this service published per second.",
      unit: "ops",
      width: 12,
      targets: [{ expr: rate("roundtrip_bus_published_total", sel, "stream"), legend: "{{stream}}" }],
    }),
    ts({
      title: "Outbox backlog",
      description: "Committed outbox rows not yet published by this service.",
      unit: "short",
      width: 12,
      targets: [{ expr: `max(roundtrip_outbox_backlog_messages{${sel}})`, legend: "backlog" }],
    }),
  ];
  switch (service) {
    case "click":
      return [
        ts({
          title: "Clicks by outcome",
          description: "Tracking-link hits per second: recorded, bot, not_found.",
          unit: "reqps",
          width: 24,
          targets: [{ expr: rate("roundtrip_clicks_total", sel, "outcome"), legend: "{{outcome}}" }],
        }),
        ts({
          title: "Clicks written to PostgreSQL instead of CLICKS",
          description:
            "Per second, by reason: a publish failed or timed out, or the broker circuit was open. Shed: redirected unrecorded, the queue being full.",
          unit: "ops",
          width: 12,
          targets: [
            { expr: orZero(rate("roundtrip_click_fallback_clicks_total", sel, "reason")), legend: "{{reason}}" },
            { expr: rate("roundtrip_click_queue_shed_total", sel), legend: "shed" },
          ],
        }),
        ts({
          title: "Broker circuit open",
          description: "Replicas whose CLICKS circuit is open or probing: their batches go straight to PostgreSQL.",
          unit: "short",
          width: 12,
          targets: [
            {
              expr: `sum(roundtrip_click_breaker_state{${sel}, state!="closed"})`,
              legend: "open or half-open",
            },
          ],
        }),
        ts({
          title: "Unstored click lag",
          description:
            "Age of the oldest click in CLICKS that attribution has not stored (CLICK_SINK=jetstream): what a single-node broker store loss would cost.",
          unit: "s",
          width: 12,
          targets: [{ expr: `max(roundtrip_clicks_unstored_lag_seconds{${sel}})`, legend: "lag" }],
        }),
        ts({
          title: "Click write queue",
          description: "Clicks waiting for a batch write (bounded by CLICK_QUEUE_MAX).",
          unit: "short",
          width: 12,
          targets: [{ expr: `sum(roundtrip_click_queue_clicks{${sel}})`, legend: "queued" }],
        }),
        ...outbox(),
      ];
    case "gateway":
      return [
        ts({
          title: "Postbacks by outcome",
          description: "Advertiser postbacks per second by outcome.",
          unit: "reqps",
          width: 12,
          targets: [{ expr: rate("roundtrip_postbacks_total", sel, "outcome"), legend: "{{outcome}}" }],
        }),
        ts({
          title: "Rejected postbacks by advertiser",
          description: "Refused postbacks per second by advertiser and outcome.",
          unit: "reqps",
          width: 12,
          targets: [
            {
              expr: orZero(
                rate(
                  "roundtrip_postbacks_total",
                  `${sel}, outcome!~"accepted|duplicate"`,
                  "advertiser, outcome",
                ),
              ),
              legend: "{{advertiser}} {{outcome}}",
            },
          ],
        }),
        ...outbox(),
      ];
    case "attribution":
      return [
        ts({
          title: "Conversions by event and status",
          description: "Conversions booked per second.",
          unit: "ops",
          width: 12,
          targets: [
            {
              expr: rate("roundtrip_conversions_total", sel, "event, status"),
              legend: "{{event}} {{status}}",
            },
          ],
        }),
        ts({
          title: "Rejected and duplicate conversions",
          description: "Conversions refused by reason, and duplicates counted instead of booked.",
          unit: "ops",
          width: 12,
          targets: [
            {
              expr: orZero(rate("roundtrip_conversions_rejected_total", sel, "reason")),
              legend: "rejected {{reason}}",
            },
            { expr: orZero(rate("roundtrip_conversion_duplicates_total", sel)), legend: "duplicates" },
          ],
        }),
        ts({
          title: "Conversions held back",
          description:
            "Conversions created but held back from booking and delivery, by reason (over_cap: waiting for room in the offer event's cap, released oldest first once there is; awaiting_click: credited before its click row was stored, released when the click is).",
          unit: "short",
          width: 12,
          targets: [
            {
              expr: orZero(`max by (reason) (roundtrip_conversions_blocked{${sel}})`),
              legend: "{{reason}}",
            },
          ],
        }),
        ts({
          title: "Traffic-quality rule hits",
          description:
            "Rules that fired per second, by reason code and action, on clicks (flagged, not unique) and conversions (flag, hold, reject). docs/fraud.md lists the codes.",
          unit: "ops",
          width: 12,
          targets: [
            {
              expr: orZero(rate("roundtrip_traffic_rule_hits_total", sel, "reason, action, on")),
              legend: "{{on}} {{reason}} {{action}}",
            },
          ],
        }),
        ts({
          title: "Top affiliates: conversions and clicks",
          description:
            "The ten affiliates with the most conversions and clicks per second: what the anomaly alerts compare with each affiliate's trailing day.",
          unit: "ops",
          width: 12,
          targets: [
            {
              expr: `topk(10, ${rate("roundtrip_affiliate_conversions_total", sel, "affiliate")})`,
              legend: "conversions {{affiliate}}",
            },
            {
              expr: `topk(10, ${rate("roundtrip_affiliate_clicks_total", sel, "affiliate")})`,
              legend: "clicks {{affiliate}}",
            },
          ],
        }),
        ts({
          title: "Top offers: conversions",
          description: "The ten offers with the most conversions per second (an offer that stops alerts).",
          unit: "ops",
          width: 12,
          targets: [
            {
              expr: `topk(10, ${rate("roundtrip_offer_conversions_total", sel, "offer")})`,
              legend: "{{offer}}",
            },
          ],
        }),
        ...consumers(),
        ...outbox(),
      ];
    case "commission":
      return [
        ts({
          title: "Ledger entries by type",
          description: "Commission, reversal and adjustment entries per second.",
          unit: "ops",
          width: 12,
          targets: [{ expr: rate("roundtrip_ledger_entries_total", sel, "type"), legend: "{{type}}" }],
        }),
        ts({
          title: "Ledger amounts per hour",
          description: "Payout and revenue amounts per hour by currency (major units).",
          unit: "short",
          width: 12,
          targets: [
            {
              expr: `${rate("roundtrip_ledger_amount_total", sel, "kind, currency")} * 3600`,
              legend: "{{kind}} {{currency}}",
            },
          ],
        }),
        ts({
          title: "Bookings by outcome",
          description: "Conversions priced per second: booked, booked at zero or rejected over a cap, or without a rule.",
          unit: "ops",
          width: 12,
          targets: [{ expr: rate("roundtrip_ledger_bookings_total", sel, "outcome"), legend: "{{outcome}}" }],
        }),
        ts({
          title: "Conversions blocked from booking",
          description:
            "Conversion changes commission cannot book yet (e.g. no FX rate for the currency); each books itself once the cause is fixed.",
          unit: "short",
          width: 12,
          targets: [
            {
              expr: orZero(`max by (reason) (roundtrip_commission_blocked{${sel}})`),
              legend: "{{reason}}",
            },
          ],
        }),
        ...consumers(),
        ...outbox(),
      ];
    case "delivery":
      return [
        ts({
          title: "Deliveries by outcome",
          description: "Affiliate postback attempts per second by outcome.",
          unit: "ops",
          width: 12,
          targets: [{ expr: rate("roundtrip_deliveries_total", sel, "outcome"), legend: "{{outcome}}" }],
        }),
        ts({
          title: "Delivery attempt latency",
          description: "Latency of one outbound HTTP attempt by outcome.",
          unit: "s",
          width: 12,
          targets: [
            {
              expr: quantile(0.99, "roundtrip_delivery_attempt_duration_seconds", sel, "outcome"),
              legend: "p99 {{outcome}}",
            },
          ],
        }),
        ts({
          title: "Deferred without an attempt",
          description: "Deliveries pushed back by an open circuit, a busy endpoint or its rate limit (no attempt used).",
          unit: "ops",
          width: 12,
          targets: [{ expr: orZero(rate("roundtrip_delivery_deferred_total", sel, "reason")), legend: "{{reason}}" }],
        }),
        ts({
          title: "Results after a lost lease",
          description:
            "Attempt results not recorded because another replica had re-claimed the row (a slow write outlived the lease); that replica's resend carries the same webhook-id.",
          unit: "ops",
          width: 12,
          targets: [{ expr: orZero(rate("roundtrip_delivery_leases_lost_total", sel, "stage")), legend: "{{stage}}" }],
        }),
        ts({
          title: "Ad-platform forwards skipped",
          description:
            "Conversions API forwards not sent because the event aged past the platform's limit (docs/conversions-api.md); each shows in the deliveries list and the trace.",
          unit: "ops",
          width: 12,
          targets: [{ expr: orZero(rate("roundtrip_delivery_skipped_total", sel, "reason")), legend: "{{reason}}" }],
        }),
        ts({
          title: "Endpoints disabled",
          description: "Affiliate endpoints disabled: 410 Gone, or failing for days. Each is in the audit log.",
          unit: "short",
          width: 12,
          targets: [
            {
              expr: orZero(`sum by (reason) (increase(roundtrip_delivery_endpoints_disabled_total{${sel}}[$__range]))`),
              legend: "{{reason}}",
            },
          ],
        }),
        ...consumers(),
      ];
    case "admin":
      return [];
  }
}

function red(service: Service): DashboardSpec {
  const sel = `service="${service}", ${NS}, instance=~"$instance"`;
  const http = "roundtrip_http_requests_total";
  const duration = "roundtrip_http_request_duration_seconds";
  const rows: RowSpec[] = [
    {
      title: "Rate, errors, duration",
      panels: [
        stat({
          title: "Requests",
          description: "HTTP requests per second, every route.",
          unit: "reqps",
          width: 6,
          targets: [{ expr: rate(http, sel) }],
        }),
        stat({
          title: "Server errors",
          description: "Share of HTTP responses with a 5xx status.",
          unit: "percentunit",
          width: 6,
          thresholds: [
            ["green", null],
            ["orange", 0.001],
            ["red", 0.01],
          ],
          targets: [{ expr: `${orZero(rate(http, `${sel}, status=~"5.."`))} / ${rate(http, sel)}` }],
        }),
        stat({
          title: "Latency p99",
          description: "99th percentile of HTTP request duration, every route.",
          unit: "s",
          width: 6,
          targets: [{ expr: quantile(0.99, duration, sel) }],
        }),
        stat({
          title: "Instances up",
          description: "Scraped instances of this service that answer.",
          unit: "short",
          width: 6,
          thresholds: [
            ["red", null],
            ["green", 1],
          ],
          targets: [{ expr: `sum(up{${sel}})` }],
        }),
        ts({
          title: "Requests by route and status",
          description: "HTTP requests per second.",
          unit: "reqps",
          width: 12,
          targets: [{ expr: rate(http, sel, "route, status"), legend: "{{route}} {{status}}" }],
        }),
        ts({
          title: "Errors by route",
          description: "HTTP responses per second with a 5xx (server) or 4xx (client) status.",
          unit: "reqps",
          width: 12,
          targets: [
            {
              expr: orZero(rate(http, `${sel}, status=~"[45].."`, "route, status")),
              legend: "{{route}} {{status}}",
            },
          ],
        }),
        ts({
          title: "Latency percentiles",
          description: "HTTP request duration, every route.",
          unit: "s",
          width: 12,
          targets: [
            { expr: quantile(0.5, duration, sel), legend: "p50" },
            { expr: quantile(0.95, duration, sel), legend: "p95" },
            { expr: quantile(0.99, duration, sel), legend: "p99" },
          ],
        }),
        ts({
          title: "Latency p99 by route",
          description: "99th percentile of HTTP request duration per route.",
          unit: "s",
          width: 12,
          targets: [{ expr: quantile(0.99, duration, sel, "route"), legend: "{{route}}" }],
        }),
      ],
    },
    {
      title: "Saturation",
      panels: [
        ts({
          title: "CPU",
          description: "CPU cores used per instance.",
          unit: "short",
          width: 8,
          targets: [
            {
              expr: `sum by (instance) (rate(process_cpu_seconds_total{${sel}}[$__rate_interval]))`,
              legend: "{{instance}}",
            },
          ],
        }),
        ts({
          title: "Resident memory",
          description: "Resident set size per instance.",
          unit: "bytes",
          width: 8,
          targets: [
            { expr: `sum by (instance) (process_resident_memory_bytes{${sel}})`, legend: "{{instance}}" },
          ],
        }),
        ts({
          title: "Event loop lag",
          description: "Event loop lag per instance: above a few milliseconds the process is CPU-bound.",
          unit: "s",
          width: 8,
          targets: [
            { expr: `max by (instance) (nodejs_eventloop_lag_seconds{${sel}})`, legend: "{{instance}}" },
          ],
        }),
      ],
    },
  ];
  const own = ownPanels(service, sel);
  if (own.length > 0) rows.push({ title: `${service}`, panels: own });
  return {
    uid: `roundtrip-service-${service}`,
    title: `Roundtrip / Service / ${service}`,
    description: `RED (rate, errors, duration) and saturation of the ${service} service.`,
    tags: ["roundtrip", "red", service],
    file: `roundtrip-service-${service}.json`,
    rows,
    variables: [
      queryVariable("instance", "Instance", `label_values(up{service="${service}", ${NS}}, instance)`),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Grafana JSON.

function queryVariable(name: string, label: string, query: string): object {
  return {
    name,
    label,
    type: "query",
    datasource: DATASOURCE,
    definition: query,
    query: { qryType: 1, query, refId: `${name}-variable` },
    refresh: 2,
    includeAll: true,
    // ".*" also matches series without the label (the local stack has no namespace).
    allValue: ".*",
    multi: true,
    current: { selected: true, text: ["All"], value: ["$__all"] },
    options: [],
    regex: "",
    sort: 1,
    hide: 0,
  };
}

function panelJson(p: PanelSpec, id: number, gridPos: object): object {
  const thresholds = p.thresholds ?? [
    ["green", null],
    ["red", 80],
  ];
  const defaults: Record<string, unknown> = {
    unit: p.unit,
    thresholds: { mode: "absolute", steps: thresholds.map(([color, value]) => ({ color, value })) },
    color: { mode: p.kind === "timeseries" ? "palette-classic" : "thresholds" },
  };
  if (p.kind === "timeseries") {
    defaults.min = p.min ?? 0;
    defaults.custom = {
      drawStyle: "line",
      lineWidth: 1,
      fillOpacity: 10,
      showPoints: "never",
      spanNulls: false,
      stacking: { mode: "none", group: "A" },
      thresholdsStyle: { mode: p.showThresholds ? "dashed" : "off" },
    };
  }
  if (p.max !== undefined) defaults.max = p.max;
  const options =
    p.kind === "timeseries"
      ? {
          legend: { displayMode: "list", placement: "bottom", showLegend: true },
          tooltip: { mode: "multi", sort: "desc" },
        }
      : p.kind === "stat"
        ? {
            reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
            colorMode: "value",
            graphMode: "none",
            justifyMode: "auto",
            orientation: "auto",
            textMode: "auto",
          }
        : { showHeader: true, cellHeight: "sm", footer: { show: false, reducer: ["sum"], fields: "" } };
  const instant = p.kind !== "timeseries";
  return {
    id,
    type: p.kind,
    title: p.title,
    description: p.description,
    datasource: DATASOURCE,
    gridPos,
    fieldConfig: { defaults, overrides: [] },
    options,
    targets: p.targets.map((t, i) => ({
      datasource: DATASOURCE,
      editorMode: "code",
      expr: t.expr,
      legendFormat: t.legend ?? "__auto",
      range: !instant,
      instant,
      ...(p.kind === "table" ? { format: "table" } : {}),
      refId: String.fromCharCode(65 + i),
    })),
    ...(p.kind === "table"
      ? {
          transformations: [
            {
              id: "organize",
              options: { excludeByName: { Time: true }, renameByName: { Value: "postbacks" } },
            },
          ],
        }
      : {}),
  };
}

export function render(spec: DashboardSpec): object {
  const panels: object[] = [];
  let id = 1;
  let y = 0;
  for (const row of spec.rows) {
    panels.push({
      id: id++,
      type: "row",
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of row.panels) {
      const w = p.width ?? 12;
      const h = p.height ?? 8;
      if (x + w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push(panelJson(p, id++, { h, w, x, y }));
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: spec.tags,
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    timepicker: {},
    timezone: "",
    fiscalYearStartMonth: 0,
    liveNow: false,
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: "grafana", uid: "-- Grafana --" },
          enable: true,
          hide: true,
          iconColor: "rgba(0, 211, 255, 1)",
          name: "Annotations & Alerts",
          type: "dashboard",
        },
      ],
    },
    links: [
      {
        title: "Roundtrip",
        type: "dashboards",
        tags: ["roundtrip"],
        asDropdown: true,
        includeVars: true,
        keepTime: true,
        icon: "external link",
        targetBlank: false,
        tooltip: "",
        url: "",
      },
    ],
    templating: {
      list: [
        {
          name: "datasource",
          label: "Data source",
          type: "datasource",
          query: "prometheus",
          current: {},
          hide: 0,
          includeAll: false,
          multi: false,
          options: [],
          refresh: 1,
          regex: "",
        },
        queryVariable("namespace", "Namespace", `label_values(up{service=~"${ALL_SERVICES}"}, namespace)`),
        ...(spec.variables ?? []),
      ],
    },
    panels,
  };
}

export function dashboards(): Map<string, string> {
  const specs = [overview(), pipeline(), ...SERVICES.map(red)];
  return new Map(specs.map((s) => [s.file, `${JSON.stringify(render(s), null, 2)}\n`]));
}

if (import.meta.main) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const dir of OUTPUT_DIRS) {
    mkdirSync(dir, { recursive: true });
    for (const [file, text] of dashboards()) {
      const path = join(dir, file);
      let current = "";
      try {
        current = readFileSync(path, "utf8");
      } catch {}
      if (current === text) continue;
      if (check) {
        console.error(`stale: ${path}`);
        stale++;
      } else {
        writeFileSync(path, text);
        console.log(`wrote ${path}`);
      }
    }
  }
  if (stale > 0) {
    console.error("run: bun deploy/grafana/generate.ts");
    process.exit(1);
  }
}
