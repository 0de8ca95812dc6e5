// What the stats panel's tests share: the panel rendered with one stats
// message received, and the sale it shows.
import { render } from '@testing-library/react';
import { StatsPanel } from '../src/components/StatsPanel';
import { initialStats, statsReducer, type StatsState } from '../src/lib/stats';
import type { Sale, Stats } from '../src/lib/types';

/** The stats state after `s` was received (at t = 1 s). */
export const fed = (s: Stats): StatsState => statsReducer(initialStats, { type: 'stats', stats: s, at: 1_000 });

/** The panel with `live` received, showing `shown` (selected unless said otherwise). */
export function panel(live: Stats, shown: Sale | null, selectedId: string | null = shown?.id ?? null) {
  return render(
    <StatsPanel
      stats={fed(live)}
      stale={false}
      sales={shown ? [shown] : []}
      selectedId={selectedId}
      onSelect={() => {}}
      sale={shown}
      salesError={null}
      now={1_000}
    />,
  );
}
