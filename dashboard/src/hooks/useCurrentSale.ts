import { useMemo } from 'react';
import type { Sale, Stats } from '../lib/types';

/**
 * The selected sale, with the stream's figures (status, stock, remaining,
 * sold, a fair start's draw) laid over the last list fetch: the stream
 * comes every second, the list every few seconds.
 */
export function useCurrentSale(sales: Sale[], live: Stats | null, selectedId: string | null): Sale | null {
  return useMemo(() => {
    const sale = sales.find((s) => s.id === selectedId);
    if (!sale) return null;
    const l = live?.sales?.find((s) => s.sale_id === selectedId);
    return l ? { ...sale, status: l.status, stock: l.stock, remaining: l.remaining, sold: l.sold, draw: l.draw ?? sale.draw } : sale;
  }, [sales, live, selectedId]);
}
