/** Local time of day for routing: minutes since local midnight and the ISO weekday (1 = Monday … 7 = Sunday). */
export type LocalTime = { minute: number; weekday: number };

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/**
 * Local time in an IANA zone (the brand's), from the platform's time-zone data (Intl), so
 * daylight-saving changes need nothing of ours. The answer only changes once a minute, so each
 * zone remembers its last minute: the redirect formats a date once per zone per minute.
 */
export class ZoneClock {
  private readonly zones = new Map<
    string,
    { formatter: Intl.DateTimeFormat; epochMinute: number; at: LocalTime }
  >();

  at(timeZone: string, when: Date): LocalTime {
    const epochMinute = Math.floor(when.getTime() / 60_000);
    let zone = this.zones.get(timeZone);
    if (!zone) {
      zone = {
        formatter: new Intl.DateTimeFormat("en-US", {
          timeZone,
          hourCycle: "h23",
          hour: "2-digit",
          minute: "2-digit",
          weekday: "short",
        }),
        epochMinute: Number.NaN,
        at: { minute: 0, weekday: 1 },
      };
      this.zones.set(timeZone, zone);
    }
    if (zone.epochMinute !== epochMinute) {
      const parts: Record<string, string> = {};
      for (const p of zone.formatter.formatToParts(new Date(epochMinute * 60_000))) parts[p.type] = p.value;
      zone.at = {
        minute: Number(parts.hour) * 60 + Number(parts.minute),
        weekday: WEEKDAYS[parts.weekday ?? ""] ?? 1,
      };
      zone.epochMinute = epochMinute;
    }
    return zone.at;
  }
}

/** "HH:MM" → minutes since midnight. */
export function minuteOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** [from, to) in local minutes; a window whose end is before its start wraps past midnight (22:00–06:00). */
export function inWindow(minute: number, from: number, to: number): boolean {
  return from < to ? minute >= from && minute < to : minute >= from || minute < to;
}
