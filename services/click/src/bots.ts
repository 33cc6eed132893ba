// Link unfurlers, preview fetchers and crawlers: they follow links pasted in chats and feeds but
// are not visitors. They still get the redirect (the preview must work) but are not counted.
const PREVIEW_BOTS =
  /slackbot|slack-imgproxy|facebookexternalhit|facebot|meta-externalagent|twitterbot|linkedinbot|discordbot|telegrambot|whatsapp|skypeuripreview|embedly|pinterest|redditbot|applebot|googlebot|google-inspectiontool|adsbot-google|mediapartners-google|bingbot|bingpreview|yandexbot|duckduckbot|baiduspider|petalbot|bytespider|vkshare|iframely|outbrain|quora link preview|mattermost|viber|snapchat|zoominfobot|semrushbot|ahrefsbot|mj12bot|phantomjs|python-requests|curl\/|wget\//i;

export function isPreviewBot(userAgent: string | null): boolean {
  return userAgent !== null && PREVIEW_BOTS.test(userAgent);
}

/**
 * Browsers fetch some links before anyone clicks (speculation rules, `<link rel=prefetch>`,
 * Firefox/Safari prefetch); those requests say so and are not clicks either.
 */
export function isPrefetch(headers: Headers): boolean {
  const purpose =
    headers.get("sec-purpose") ?? headers.get("purpose") ?? headers.get("x-purpose") ?? headers.get("x-moz");
  return purpose !== null && /prefetch|prerender|preview/i.test(purpose);
}
