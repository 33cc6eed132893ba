// Link unfurlers and preview fetchers: they follow links pasted in chats and feeds but are not
// visitors. They still get the redirect (the preview must work) but are not counted.
const PREVIEW_BOTS =
  /slackbot|facebookexternalhit|facebot|twitterbot|linkedinbot|discordbot|telegrambot|whatsapp|skypeuripreview|embedly|pinterest|redditbot|applebot|googlebot|bingbot|bingpreview|yandexbot|vkshare|iframely|outbrain|quora link preview|mattermost|viber/i;

export function isPreviewBot(userAgent: string | null): boolean {
  return userAgent !== null && PREVIEW_BOTS.test(userAgent);
}
