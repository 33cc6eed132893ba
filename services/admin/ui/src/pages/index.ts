import { AccountPage } from "./account.tsx";
import { AdvertiserPage } from "./advertiser.tsx";
import { DashboardPage } from "./dashboard.tsx";
import { DeliveriesPage, WebhookSecretsPage } from "./delivery.tsx";
import { BalancesPage, FxRatesPage, LedgerPage, StatementsPage } from "./money.tsx";
import { ADMIN, ALL, type PageDef, STAFF, WRITERS } from "./registry.ts";
import {
  AdvertisersPage,
  AffiliatesPage,
  BrandsPage,
  LinksPage,
  OffersPage,
  PayoutRulesPage,
  TemplatesPage,
} from "./setup.tsx";
import {
  ApiKeysPage,
  AttentionHelpPage,
  AuditLogPage,
  ImportsPage,
  ReconciliationPage,
  ReportsPage,
  ValidationPage,
} from "./tools.tsx";
import { PortalPage } from "./portal.tsx";
import { LinkRoutingPage } from "./routing.tsx";
import { PayoutLinesPage, PayoutRunsPage } from "./payouts.tsx";
import { PayoutSettingsPage, SubAffiliateEarningsPage } from "./payout-settings.tsx";
import { OperatorWebhooksPage } from "./operator-webhooks.tsx";
import { ConversionDestinationsPage } from "./conversion-destinations.tsx";
import { IpListsPage, ReviewsPage, TrafficQualityPage, TrafficRulesPage } from "./quality.tsx";
import { TestPostbackPage } from "./test-postback.tsx";
import { UsersPage } from "./users.tsx";
import { ClicksPage, ConversionsPage, TracePage } from "./traffic.tsx";

/**
 * Every page of the console, in menu order within each section. Adding a page: write its
 * component in pages/<name>.tsx and add one entry here (docs/console.md, "Adding a page").
 */
export const PAGES: PageDef[] = [
  { path: "dashboard", title: "Dashboard", section: "Overview", roles: ALL, component: DashboardPage },
  { path: "brands", title: "Brands", section: "Setup", roles: STAFF, component: BrandsPage },
  { path: "advertisers", title: "Advertisers", section: "Setup", roles: STAFF, component: AdvertisersPage },
  { path: "offers", title: "Offers", section: "Setup", roles: ALL, component: OffersPage },
  { path: "affiliates", title: "Affiliates", section: "Setup", roles: STAFF, component: AffiliatesPage },
  { path: "links", title: "Links", section: "Setup", roles: ALL, component: LinksPage },
  { path: "payout-rules", title: "Payout rules", section: "Setup", roles: STAFF, component: PayoutRulesPage },
  { path: "clicks", title: "Clicks", section: "Traffic", roles: ALL, component: ClicksPage },
  { path: "conversions", title: "Conversions", section: "Traffic", roles: ALL, component: ConversionsPage },
  { path: "trace", title: "Trace", section: "Traffic", roles: STAFF, component: TracePage },
  { path: "reviews", title: "Review queue", section: "Traffic", roles: STAFF, component: ReviewsPage },
  {
    path: "traffic-quality",
    title: "Traffic quality",
    section: "Traffic",
    roles: STAFF,
    component: TrafficQualityPage,
  },
  {
    path: "traffic-rules",
    title: "Traffic rules",
    section: "Traffic",
    roles: STAFF,
    component: TrafficRulesPage,
  },
  { path: "ip-lists", title: "IP lists", section: "Traffic", roles: STAFF, component: IpListsPage },
  { path: "ledger", title: "Payouts (ledger)", section: "Money", roles: ALL, component: LedgerPage },
  { path: "balances", title: "Balances", section: "Money", roles: ALL, component: BalancesPage },
  { path: "payout-runs", title: "Payout runs", section: "Money", roles: STAFF, component: PayoutRunsPage },
  { path: "payouts", title: "Payouts", section: "Money", roles: ALL, component: PayoutLinesPage },
  {
    path: "payout-settings",
    title: "Payout settings",
    section: "Money",
    roles: STAFF,
    component: PayoutSettingsPage,
  },
  {
    path: "sub-affiliates",
    title: "Sub-affiliate earnings",
    section: "Money",
    roles: ALL,
    component: SubAffiliateEarningsPage,
  },
  { path: "statements", title: "Statements", section: "Money", roles: ALL, component: StatementsPage },
  { path: "fx-rates", title: "FX rates", section: "Money", roles: STAFF, component: FxRatesPage },
  {
    path: "postbacks",
    title: "Postback templates",
    section: "Delivery",
    roles: ALL,
    component: TemplatesPage,
  },
  {
    path: "deliveries",
    title: "Outbound postbacks",
    section: "Delivery",
    roles: ALL,
    component: DeliveriesPage,
  },
  { path: "portal", title: "Links and tests", section: "Delivery", roles: ALL, component: PortalPage },
  {
    path: "conversion-destinations",
    title: "Conversions API",
    section: "Delivery",
    roles: STAFF,
    component: ConversionDestinationsPage,
  },
  {
    path: "operator-webhooks",
    title: "Operator webhooks",
    section: "Delivery",
    roles: STAFF,
    component: OperatorWebhooksPage,
  },
  {
    path: "webhook-secrets",
    title: "Signing secrets",
    section: "Delivery",
    roles: ALL,
    component: WebhookSecretsPage,
  },
  { path: "reports", title: "Reports", section: "Tools", roles: ALL, component: ReportsPage },
  { path: "imports", title: "Imports", section: "Tools", roles: STAFF, component: ImportsPage },
  {
    path: "reconciliation",
    title: "Reconciliation",
    section: "Tools",
    roles: STAFF,
    component: ReconciliationPage,
  },
  {
    path: "test-postback",
    title: "Test postback",
    section: "Tools",
    roles: WRITERS,
    component: TestPostbackPage,
  },
  {
    path: "validation",
    title: "Launch validation",
    section: "Tools",
    roles: STAFF,
    component: ValidationPage,
  },
  { path: "audit", title: "Audit log", section: "Admin", roles: STAFF, component: AuditLogPage },
  { path: "users", title: "Users", section: "Admin", roles: ADMIN, component: UsersPage },
  { path: "api-keys", title: "API keys", section: "Admin", roles: ADMIN, component: ApiKeysPage },
  { path: "account", title: "Account security", section: "Account", roles: ALL, component: AccountPage },
  {
    path: "advertiser",
    title: "Advertiser integration",
    section: "Setup",
    roles: STAFF,
    component: AdvertiserPage,
    nav: false,
  },
  {
    path: "link-routing",
    title: "Link routing",
    section: "Setup",
    roles: STAFF,
    component: LinkRoutingPage,
    nav: false,
  },
  {
    path: "attention-help",
    title: "Needs attention",
    section: "Overview",
    roles: STAFF,
    component: AttentionHelpPage,
    nav: false,
  },
];
void WRITERS;
