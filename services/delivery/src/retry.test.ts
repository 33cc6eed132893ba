import { describe, expect, test } from "bun:test";
import { classify, DEFAULT_SCHEDULE_S, nextDelay, parseRetryAfter, parseSchedule } from "./retry.ts";

describe("retries", () => {
  test("the default schedule retries for more than a day", () => {
    const schedule = parseSchedule(DEFAULT_SCHEDULE_S);
    expect(schedule[0]).toBe(0);
    const total = schedule.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(86_400);
    // jitter only ever adds: the schedule is a floor
    expect(nextDelay(schedule, 7, null, () => 0)).toBe(36_000);
  });

  test("a bad schedule names the variable", () => {
    expect(() => parseSchedule("0,5,-1")).toThrow(/DELIVERY_RETRY_SCHEDULE_S/);
    expect(() => parseSchedule("0,x")).toThrow(/DELIVERY_RETRY_SCHEDULE_S/);
  });

  test.each([
    [200, "delivered"],
    [204, "delivered"],
    [null, "retryable"],
    [429, "retryable"],
    [500, "retryable"],
    [503, "retryable"],
    [301, "permanent"],
    [302, "permanent"],
    [400, "permanent"],
    [404, "permanent"],
    [410, "permanent"],
  ] as const)("status %p is %s", (status, verdict) => {
    expect(classify(status)).toBe(verdict);
  });

  test("Retry-After as seconds or an HTTP date, capped at a day", () => {
    const now = Date.parse("2026-03-10T12:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120);
    expect(parseRetryAfter("Tue, 10 Mar 2026 12:05:00 GMT", now)).toBe(300);
    expect(parseRetryAfter("999999", now)).toBe(86_400);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });

  test("jittered exponential steps, Retry-After wins when longer, null when exhausted", () => {
    const schedule = [0, 5, 300];
    expect(nextDelay(schedule, 1, null, () => 0)).toBe(5);
    expect(nextDelay(schedule, 1, null, () => 1)).toBeCloseTo(6, 9);
    expect(nextDelay(schedule, 2, null, () => 0.5)).toBeCloseTo(330, 9);
    expect(nextDelay(schedule, 1, 60, () => 0.5)).toBe(60);
    expect(nextDelay(schedule, 2, 60, () => 0)).toBe(300);
    expect(nextDelay(schedule, 3, null)).toBeNull();
  });
});
