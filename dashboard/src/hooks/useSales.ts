import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, type Api } from '../lib/api';
import type { Sale } from '../lib/types';

/**
 * The sale list (public endpoint). Polled every `everyMs`, fetched again
 * shortly after anything that changes a sale (`refreshSoon`, debounced so a
 * burst of events costs one request), and patched at once with the sale an
 * admin action answered (`upsert`), so the page does not wait for the poll.
 */
export function useSales(api: Api, everyMs = 5000) {
  const [sales, setSales] = useState<Sale[]>([]);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    try {
      const list = await api.listSales();
      if (Array.isArray(list)) setSales(list);
      setError(null);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : 'Cannot load sales');
    }
  }, [api]);
  useEffect(() => {
    refresh();
    const id = setInterval(refresh, everyMs);
    return () => clearInterval(id);
  }, [refresh, everyMs]);

  const soon = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const refreshSoon = useCallback(() => {
    clearTimeout(soon.current);
    soon.current = setTimeout(refresh, 250);
  }, [refresh]);
  useEffect(() => () => clearTimeout(soon.current), []);

  const upsert = useCallback(
    (sale: Sale) => {
      setSales((list) => {
        const i = list.findIndex((s) => s.id === sale.id);
        return i === -1 ? [...list, sale] : list.map((s, j) => (j === i ? sale : s));
      });
      refreshSoon();
    },
    [refreshSoon],
  );

  return { sales, error, refreshSoon, upsert };
}
