import { useEffect, useState } from 'react';
import { isStale, type StatsState } from '../lib/stats';

/**
 * How old the live figures are, re-read every second: a silent stream sends
 * nothing that would re-render the page, so the clock has to.
 */
export function useStaleness(stats: StatsState) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, []);
  const stale = isStale(stats, now);
  const staleFor = stats.receivedAt ? Math.max(0, Math.round((now - stats.receivedAt) / 1000)) : null;
  return { now, stale, staleFor };
}
