import { useEffect, useMemo, useState } from 'react';
import type { Sale, Stats } from '../lib/types';

const SALE_KEY = 'flashsale.selectedSale';

/** Picks the sale to show when none is chosen: an active one, else the newest. */
export function defaultSale(sales: Sale[]): string | null {
  if (sales.length === 0) return null;
  const active = sales.find((s) => s.status === 'active');
  if (active) return active.id;
  return [...sales].sort((a, b) => (a.created_at < b.created_at ? 1 : -1))[0].id;
}

function remembered(): string | null {
  try {
    return localStorage.getItem(SALE_KEY);
  } catch {
    return null;
  }
}

/**
 * The sale the operator looks at. Remembered across reloads (localStorage);
 * replaced by `defaultSale` when it is none of the known sales (listed, or
 * seen on the stream), but only once some are known.
 */
export function useSaleSelection(sales: Sale[], live: Stats | null) {
  const [selectedId, select] = useState<string | null>(remembered);
  const known = useMemo(() => {
    const ids = new Set(sales.map((s) => s.id));
    for (const s of live?.sales ?? []) ids.add(s.sale_id);
    return ids;
  }, [sales, live]);
  useEffect(() => {
    if (selectedId && (known.has(selectedId) || known.size === 0)) return;
    const next = defaultSale(sales);
    if (next !== selectedId) select(next);
  }, [known, sales, selectedId]);
  useEffect(() => {
    try {
      if (selectedId) localStorage.setItem(SALE_KEY, selectedId);
    } catch {
      /* storage disabled: the choice lasts as long as the page */
    }
  }, [selectedId]);
  return [selectedId, select] as const;
}
