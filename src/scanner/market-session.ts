// The US stock market's day on the New York clock: which session a moment belongs to, and how much
// of a typical day's volume has traded by then (the denominator of relative volume). Holidays and
// half days are not modelled: on those days the scanner calls a closed market "open" and ranks
// the previous session's data, which is what the snapshot still holds.

/** Session names as the seeds spell them in `polygon_ws:subscriptions` events. */
export const MARKET_SESSIONS = ['PRE_MARKET', 'MARKET_OPEN', 'POST_MARKET', 'CLOSED'] as const;
export type MarketSession = (typeof MARKET_SESSIONS)[number];

export const PRE_MARKET_START = 4 * 60;
export const REGULAR_OPEN = 9 * 60 + 30;
export const REGULAR_CLOSE = 16 * 60;
export const POST_MARKET_END = 20 * 60;
export const REGULAR_MINUTES = REGULAR_CLOSE - REGULAR_OPEN;

export interface MarketClock {
  /** Minutes since midnight, New York time (fractional). */
  minuteOfDay: number;
  /** 0 = Sunday … 6 = Saturday, New York time. */
  weekday: number;
  /** The New York calendar date, YYYY-MM-DD. */
  date: string;
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

const nyFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  hourCycle: 'h23',
  weekday: 'short',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** The New York wall clock at `ms` (daylight saving time included). */
export function newYorkClock(ms: number): MarketClock {
  const parts: Record<string, string> = {};
  for (const p of nyFormat.formatToParts(new Date(ms))) parts[p.type] = p.value;
  const hour = Number(parts.hour) % 24;
  const minute = Number(parts.minute);
  const second = Number(parts.second);
  return {
    minuteOfDay: hour * 60 + minute + second / 60,
    weekday: WEEKDAYS[parts.weekday ?? ''] ?? 0,
    date: `${parts.year}-${parts.month}-${parts.day}`,
  };
}

/** The session of a minute of a trading day. */
export function sessionAtMinute(minuteOfDay: number): MarketSession {
  if (minuteOfDay >= PRE_MARKET_START && minuteOfDay < REGULAR_OPEN) return 'PRE_MARKET';
  if (minuteOfDay >= REGULAR_OPEN && minuteOfDay < REGULAR_CLOSE) return 'MARKET_OPEN';
  if (minuteOfDay >= REGULAR_CLOSE && minuteOfDay < POST_MARKET_END) return 'POST_MARKET';
  return 'CLOSED';
}

export function isTradingDay(weekday: number): boolean {
  return weekday >= 1 && weekday <= 5;
}

export function sessionAt(clock: MarketClock): MarketSession {
  return isTradingDay(clock.weekday) ? sessionAtMinute(clock.minuteOfDay) : 'CLOSED';
}

// A typical day's volume split: 5 % before the open, 90 % in the regular session, 5 % after.
// Linear within each session: the real intraday curve is U-shaped, but a linear one keeps relative
// volume honest to within a factor that is the same for every stock, which is what ranking needs.
const PRE_SHARE = 0.05;
const REGULAR_SHARE = 0.9;
const POST_SHARE = 0.05;
const PRE_MINUTES = REGULAR_OPEN - PRE_MARKET_START;
const POST_MINUTES = POST_MARKET_END - REGULAR_CLOSE;

/** Fraction (0..1) of a typical day's volume traded by this minute of a trading day. */
export function expectedVolumeFraction(minuteOfDay: number): number {
  const m = minuteOfDay;
  if (m < PRE_MARKET_START) return 1; // before 4:00 the data still describe the previous full day
  if (m < REGULAR_OPEN) return (PRE_SHARE * (m - PRE_MARKET_START)) / PRE_MINUTES;
  if (m < REGULAR_CLOSE) return PRE_SHARE + (REGULAR_SHARE * (m - REGULAR_OPEN)) / REGULAR_MINUTES;
  if (m < POST_MARKET_END) return PRE_SHARE + REGULAR_SHARE + (POST_SHARE * (m - REGULAR_CLOSE)) / POST_MINUTES;
  return 1;
}

/** Fraction of a typical day's volume that trades in one minute at this time (0 when closed). */
export function expectedMinuteVolumeShare(minuteOfDay: number): number {
  switch (sessionAtMinute(minuteOfDay)) {
    case 'PRE_MARKET':
      return PRE_SHARE / PRE_MINUTES;
    case 'MARKET_OPEN':
      return REGULAR_SHARE / REGULAR_MINUTES;
    case 'POST_MARKET':
      return POST_SHARE / POST_MINUTES;
    case 'CLOSED':
      return 0;
  }
}
