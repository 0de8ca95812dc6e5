// Countdown math and what a sale allows now, on the engine's clock
// (`serverNow` of clock.ts): pure, so the page and the tests agree.
import type { Sale } from '../../lib/types';
import { engineMs } from './clock';
import { drawClosed, drawWindow, windowTime } from './draw';

export interface Parts {
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

/**
 * A duration split for display. Seconds round up, so the countdown shows
 * 00:00:01 until the very start and reaches 00:00:00 only when it is over.
 */
export function splitDuration(ms: number): Parts {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return {
    days: Math.floor(total / 86_400),
    hours: Math.floor((total % 86_400) / 3600),
    minutes: Math.floor((total % 3600) / 60),
    seconds: total % 60,
  };
}

const two = (n: number) => String(n).padStart(2, '0');

/** `HH:MM:SS`, or `2d 03:04:05` beyond a day, or `MM:SS` under an hour when `short`. */
export function fmtCountdown(ms: number, short = false): string {
  const p = splitDuration(ms);
  if (p.days > 0) return `${p.days}d ${two(p.hours)}:${two(p.minutes)}:${two(p.seconds)}`;
  if (short && p.hours === 0) return `${two(p.minutes)}:${two(p.seconds)}`;
  return `${two(p.hours)}:${two(p.minutes)}:${two(p.seconds)}`;
}

/** The same in words, for screen readers: "1 hour 2 minutes 5 seconds". */
export function countdownWords(ms: number): string {
  const p = splitDuration(ms);
  const unit = (n: number, w: string) => (n === 0 ? null : `${n} ${w}${n === 1 ? '' : 's'}`);
  const words = [unit(p.days, 'day'), unit(p.hours, 'hour'), unit(p.minutes, 'minute'), unit(p.seconds, 'second')].filter(Boolean);
  return words.length ? words.join(' ') : '0 seconds';
}

/**
 * What the buyer can do with a sale now:
 * - `upcoming`: scheduled with a start time still ahead (count down; to the
 *   draw's opening for a fair start);
 * - `waiting`: scheduled with no start time (opens when the operator starts it);
 * - `draw`: a fair start's window is open: Buy enters the sale's draw, even
 *   before the start (draw.ts);
 * - `open`: on sale (active, or scheduled and its start has come by the engine's clock);
 * - `sold_out`: none left for now (units come back when unpaid orders expire or are cancelled);
 * - `paused`, `ended`.
 */
export type SalePhase = 'upcoming' | 'waiting' | 'draw' | 'open' | 'sold_out' | 'paused' | 'ended';

type PhaseFields = Pick<Sale, 'status' | 'starts_at' | 'ends_at'> & Partial<Pick<Sale, 'prequeue_seconds' | 'fair_start_seconds' | 'draw'>>;

export function salePhase(sale: PhaseFields, serverNowMs: number): SalePhase {
  const end = engineMs(sale.ends_at);
  if (sale.status === 'ended' || (end !== null && serverNowMs >= end)) return 'ended';
  if (sale.status === 'paused') return 'paused';
  const w = drawWindow(sale);
  if (w && ['scheduled', 'active', 'sold_out'].includes(sale.status)) {
    const t = windowTime(w, serverNowMs);
    if (t === 'open' && !drawClosed(sale.draw)) return 'draw';
    if (t === 'before' && sale.status === 'scheduled') return 'upcoming';
  }
  if (sale.status === 'sold_out') return 'sold_out';
  if (sale.status === 'active') return 'open';
  if (sale.status === 'scheduled') {
    const start = engineMs(sale.starts_at);
    if (start === null) return 'waiting';
    return serverNowMs >= start ? 'open' : 'upcoming';
  }
  return 'ended';
}

/**
 * Whether Buy is offered. A sold-out sale keeps it: units come back on sale
 * when unpaid orders expire or are cancelled, and the engine answers a
 * purchase either way.
 */
export function buyable(phase: SalePhase): boolean {
  return phase === 'open' || phase === 'sold_out' || phase === 'draw';
}

/** Milliseconds until Buy opens on the engine's clock: the draw's window for a fair start, else the start (null: none ahead). */
export function msToBuy(sale: PhaseFields, serverNowMs: number): number | null {
  if (sale.status !== 'scheduled') return null;
  const w = drawWindow(sale);
  if (w) return serverNowMs < w.opensAt ? w.opensAt - serverNowMs : null;
  return msToStart(sale, serverNowMs);
}

/** Milliseconds until the sale starts on the engine's clock (null: no start ahead). */
export function msToStart(sale: Pick<Sale, 'status' | 'starts_at'>, serverNowMs: number): number | null {
  if (sale.status !== 'scheduled') return null;
  const start = engineMs(sale.starts_at);
  if (start === null) return null;
  return Math.max(0, start - serverNowMs);
}
