/** What an answer (or its absence) means. Only transport errors, timeouts, 429 and 5xx are retried. */
export function classify(status: number | null): "delivered" | "retryable" | "permanent" {
  if (status === null) return "retryable";
  if (status >= 200 && status < 300) return "delivered";
  if (status === 429 || status >= 500) return "retryable";
  return "permanent";
}
