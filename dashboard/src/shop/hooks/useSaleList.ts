import { useCallback, useEffect, useState } from 'react';
import { ApiError } from '../../lib/api';
import type { Sale } from '../../lib/types';
import type { ShopApi } from '../lib/shopApi';

/** Statuses a buyer is shown: not paused or ended ones. */
export const LISTED = ['active', 'scheduled', 'sold_out'];

const RANK: Record<string, number> = { active: 0, scheduled: 1, sold_out: 2 };

/** The sales a buyer sees, on sale first, then the upcoming ones by start, then the sold-out ones. */
export function shopSales(all: Sale[]): Sale[] {
  return all
    .filter((s) => LISTED.includes(s.status))
    .sort(
      (a, b) =>
        (RANK[a.status] ?? 9) - (RANK[b.status] ?? 9) ||
        (a.starts_at ?? '').localeCompare(b.starts_at ?? '') ||
        a.created_at.localeCompare(b.created_at),
    );
}

/**
 * The public sale list, fetched every `everyMs` while the page is visible
 * (one request for all sales; each sale's own page follows its live stream).
 */
export function useSaleList(api: ShopApi, everyMs = 5000) {
  const [sales, setSales] = useState<Sale[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = useCallback(async () => {
    try {
      const list = await api.listSales();
      setSales(Array.isArray(list) ? shopSales(list) : []);
      setError(null);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : 'Cannot load the sales.');
    }
  }, [api]);
  useEffect(() => {
    refresh();
    const id = setInterval(() => {
      if (document.visibilityState !== 'hidden') refresh();
    }, everyMs);
    const onVisible = () => {
      if (document.visibilityState === 'visible') refresh();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(id);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [refresh, everyMs]);
  return { sales, error, refresh };
}
