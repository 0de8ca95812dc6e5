// A fair start (issue 19), seen from the shop: the sale's draw window, on the
// engine's clock, and the buyer's entry in its draw. Pure, so the page and
// the tests agree.
//
// A sale with `prequeue_seconds` P and `fair_start_seconds` F (P + F > 0, and
// a `starts_at`) takes every purchase attempt from `starts_at − P` to
// `starts_at + F` into its draw: the request is not answered at once but
// waits until the window closes, when the entries are put in a random order
// and served in turn; each waiting request then gets its entry's answer (202,
// or a refusal, as any purchase). After the window: first come, first served.
import type { Draw, Sale } from '../../lib/types';
import { fmtClock } from '../../lib/format';
import { engineMs } from './clock';
import type { IntentState } from './intent';
import { isOpen } from './intent';

/** The window of a sale's draw, engine times (Unix ms): `opensAt ≤ t < closesAt`. */
export interface DrawWindow {
  opensAt: number;
  startsAt: number;
  closesAt: number;
}

export type { Draw };

export type FairStartTerms = Pick<Sale, 'starts_at'> & Partial<Pick<Sale, 'prequeue_seconds' | 'fair_start_seconds'>>;

/** The sale's draw window, or null when it has no fair start. */
export function drawWindow(sale: FairStartTerms): DrawWindow | null {
  const startsAt = engineMs(sale.starts_at);
  const before = Math.max(0, sale.prequeue_seconds ?? 0);
  const after = Math.max(0, sale.fair_start_seconds ?? 0);
  if (startsAt === null || before + after <= 0) return null;
  return { opensAt: startsAt - before * 1000, startsAt, closesAt: startsAt + after * 1000 };
}

/** Where the engine's clock stands against the window. */
export function windowTime(w: DrawWindow, serverNowMs: number): 'before' | 'open' | 'closed' {
  if (serverNowMs < w.opensAt) return 'before';
  return serverNowMs < w.closesAt ? 'open' : 'closed';
}

/** The engine says its draw closed (a clock estimate a little behind would still think it open). */
export function drawClosed(draw: Draw | null | undefined): boolean {
  return !!draw && draw.phase !== 'open';
}

/**
 * The next moment the page must look again (engine ms): the window opening,
 * the start, the window closing; null when none is ahead.
 */
export function nextDrawBoundary(w: DrawWindow | null, serverNowMs: number): number | null {
  if (!w) return null;
  return [w.opensAt, w.startsAt, w.closesAt].find((t) => t > serverNowMs) ?? null;
}

/**
 * The buyer's entry, while their Buy is waiting for the draw's answer:
 * `entered` until the window closes, then `drawing` (the entries being
 * served in the drawn order). Null when the open intent is no draw entry
 * (or there is none).
 */
export type EntryStage = 'entered' | 'drawing';

export function entryStage(s: IntentState, draw: Draw | null | undefined, now: number = Date.now()): EntryStage | null {
  if (!isOpen(s) || s.intent.drawClosesAt === undefined) return null;
  if (drawClosed(draw)) return 'drawing';
  return now < s.intent.drawClosesAt ? 'entered' : 'drawing';
}

const buyers = (n: number) => `${n} buyer${n === 1 ? '' : 's'}`;

/** The sale's fair start in one sentence, for the sale page (before and while its window is open). */
export function fairStartText(w: DrawWindow, serverNowMs: number): string {
  const until = fmtClock(new Date(w.closesAt).toISOString());
  if (windowTime(w, serverNowMs) === 'before') {
    const from = fmtClock(new Date(w.opensAt).toISOString());
    return `Fair start: every buyer who presses Buy between ${from} and ${until} is entered in a draw; the order is random, not by speed.`;
  }
  return `Fair start: every buyer who presses Buy before ${until} is entered in a draw; the order is random, not by speed.`;
}

/** The draw once its window closed, in words (null before). */
export function drawResultText(draw: Draw | null | undefined): string | null {
  if (!draw || draw.phase === 'open') return null;
  if (draw.phase === 'served') return `Fair start: ${buyers(draw.entrants)} entered the draw; they were served in a random order. First come, first served since.`;
  return `Fair start: the draw is closed; ${draw.served} of its ${buyers(draw.entrants)} served so far, in a random order.`;
}

/** The number of entrants in words, when the engine said it. */
export function entrantsText(draw: Draw | null | undefined, stage: EntryStage): string | null {
  if (!draw) return null;
  if (stage === 'entered') return `${buyers(draw.entrants)} in the draw so far`;
  return draw.phase === 'open' ? `${buyers(draw.entrants)} in the draw` : `${draw.served} of ${draw.entrants} entries served`;
}
