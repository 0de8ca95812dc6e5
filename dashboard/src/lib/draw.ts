// A fair start's draw (issue 19) as the console shows it: its phase, how
// many entered, how many were served, and the seed that, with the entrants,
// lets anyone recompute the drawn order (docs/fair-start.md at the repo root).
import type { Draw } from './types';

/** The draw's phase in words; a phase the engine adds later is shown as sent. */
export function drawPhaseLabel(phase: string): string {
  switch (phase) {
    case 'open':
      return 'taking entries';
    case 'serving':
      return 'serving';
    case 'served':
      return 'served';
    default:
      return phase.replace(/_/g, ' ');
  }
}

/** The badge tone of a phase. */
export function drawPhaseTone(phase: string): string {
  return phase === 'served' ? 'ok' : phase === 'open' ? 'accent' : 'warn';
}

/** Entries served, in percent of the entrants (0 with none). */
export function servedPct(d: Pick<Draw, 'served' | 'entrants'>): number {
  return d.entrants > 0 ? Math.max(0, Math.min(100, (d.served / d.entrants) * 100)) : 0;
}

/** A seed: 64 hex digits. */
export function isSeed(seed: unknown): seed is string {
  return typeof seed === 'string' && /^[0-9a-f]{64}$/i.test(seed);
}

/** The fair start's terms in words: "5 s before the start → 3 s after" (null without one). */
export function fairStartTerms(prequeue: number | null | undefined, fairStart: number | null | undefined): string | null {
  const before = Math.max(0, prequeue ?? 0);
  const after = Math.max(0, fairStart ?? 0);
  if (before + after <= 0) return null;
  return `${before} s before the start → ${after} s after`;
}
