// The engine's clock, seen from the browser. Every answer of `GET /api/sales`
// and `GET /api/sales/{id}` carries `FlashSale-Server-Time` (Unix ms); with
// the request's send and receive times that gives the offset between the two
// clocks, as NTP does: the engine read its clock, on average, half-way
// through the round trip. A countdown to `starts_at` (an engine time) then
// runs on `Date.now() + offset`, right even when the phone's clock is off.

export const SERVER_TIME_HEADER = 'FlashSale-Server-Time';

export interface ClockSample {
  /** the engine's clock in the answer, Unix ms */
  serverMs: number;
  /** Date.now() when the request left */
  sentAt: number;
  /** Date.now() when the answer arrived */
  receivedAt: number;
}

export function parseServerTime(value: string | null | undefined): number | null {
  if (value === null || value === undefined || !/^\s*\d+\s*$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

/** How far the engine's clock is ahead of this one (ms; negative: behind), by one sample. */
export function offsetOf(s: ClockSample): number {
  return s.serverMs - (s.sentAt + s.receivedAt) / 2;
}

/** The uncertainty of a sample: half its round trip. */
export function errorOf(s: ClockSample): number {
  return Math.max(0, s.receivedAt - s.sentAt) / 2;
}

/**
 * The best estimate from recent samples: the one with the shortest round
 * trip (the least uncertain), among the last `keep`. 0 without samples.
 */
export function bestOffset(samples: readonly ClockSample[], keep = 8): number {
  const recent = samples.slice(-keep);
  if (recent.length === 0) return 0;
  let best = recent[0];
  for (const s of recent) if (errorOf(s) < errorOf(best)) best = s;
  return Math.round(offsetOf(best));
}

/** Samples kept: the last `max`, oldest first. */
export function addSample(samples: readonly ClockSample[], s: ClockSample, max = 8): ClockSample[] {
  if (!Number.isFinite(s.serverMs) || s.receivedAt < s.sentAt) return [...samples];
  return [...samples, s].slice(-max);
}

/** The engine's time now, by this clock and an offset. */
export function serverNow(offset: number, clientNow: number = Date.now()): number {
  return clientNow + offset;
}

/** An engine time (ISO string) as Unix ms, or null. */
export function engineMs(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}
