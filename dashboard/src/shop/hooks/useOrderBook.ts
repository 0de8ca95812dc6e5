import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError } from '../../lib/api';
import type { Order } from '../../lib/types';
import { loadOrders, nextCheckIn, saveOrders, withOrder, type StoredOrder } from '../lib/orders';
import type { ShopApi } from '../lib/shopApi';

export interface OrderDetail {
  order?: Order;
  /** the last fetch's problem (network, not found yet…), the order kept */
  error?: string;
  code?: string;
  /** fetches so far, and the client time of the last */
  checks: number;
  checkedAt: number;
}

export interface OrderBook {
  stored: StoredOrder[];
  details: Record<string, OrderDetail>;
  /** an accepted purchase: kept on this device, followed until it settles */
  add: (o: StoredOrder) => void;
  /** fetch them all again (the "Refresh" button) */
  refresh: () => void;
  pay: (orderId: string) => Promise<ApiError | null>;
  cancel: (orderId: string) => Promise<ApiError | null>;
}

/**
 * The buyer's orders on this device (ids in localStorage, per buyer), each
 * fetched from `GET /api/orders/{id}` as often as it may change: every
 * 500 ms and slower while pending, now and then while awaiting payment,
 * right after its deadline, and never once settled (orders.ts).
 */
export function useOrderBook(api: ShopApi, buyerId: string | null, clockOffset: number): OrderBook {
  const [stored, setStored] = useState<StoredOrder[]>(() => (buyerId ? loadOrders(buyerId) : []));
  const [details, setDetails] = useState<Record<string, OrderDetail>>({});
  const detailsRef = useRef(details);
  detailsRef.current = details;
  const offsetRef = useRef(clockOffset);
  offsetRef.current = clockOffset;
  const inFlight = useRef(new Set<string>());
  const [wake, setWake] = useState(0);

  useEffect(() => {
    setStored(buyerId ? loadOrders(buyerId) : []);
    setDetails({});
  }, [buyerId]);

  const fetchOne = useCallback(
    async (id: string) => {
      if (inFlight.current.has(id)) return;
      inFlight.current.add(id);
      try {
        const order = await api.order(id);
        setDetails((d) => ({ ...d, [id]: { order, checks: (d[id]?.checks ?? 0) + 1, checkedAt: Date.now() } }));
      } catch (e) {
        const err = e instanceof ApiError ? e : new ApiError(0, 'network_error', 'Cannot reach the shop.');
        setDetails((d) => ({ ...d, [id]: { ...d[id], error: err.message, code: err.code, checks: (d[id]?.checks ?? 0) + 1, checkedAt: Date.now() } }));
      } finally {
        inFlight.current.delete(id);
      }
    },
    [api],
  );

  // one timer for all: the soonest order due for a check
  useEffect(() => {
    if (!buyerId || stored.length === 0) return;
    const now = Date.now();
    let soonest = Infinity;
    for (const s of stored) {
      const d = detailsRef.current[s.order_id];
      const checks = d?.checks ?? 0;
      // refused for good: another buyer's order, or signed out
      if (d?.code === 'unauthorized' || (d?.code === 'order_not_found' && !d.order && checks >= 20)) continue;
      // an order the shop has not stored yet answers 404 for a moment: keep asking
      const wait = nextCheckIn(d?.order, checks, now - (d?.checkedAt ?? 0), now + offsetRef.current);
      if (wait <= 0) fetchOne(s.order_id);
      else soonest = Math.min(soonest, wait);
    }
    if (soonest === Infinity) return;
    const t = setTimeout(() => setWake((n) => n + 1), soonest);
    return () => clearTimeout(t);
  }, [buyerId, stored, details, wake, fetchOne]);

  const add = useCallback(
    (o: StoredOrder) => {
      if (!buyerId) return;
      setStored((list) => {
        const next = withOrder(list, o);
        saveOrders(buyerId, next);
        return next;
      });
    },
    [buyerId],
  );

  const refresh = useCallback(() => {
    for (const s of stored) fetchOne(s.order_id);
  }, [stored, fetchOne]);

  const act = useCallback(
    async (orderId: string, call: (id: string) => Promise<Order>): Promise<ApiError | null> => {
      try {
        const order = await call(orderId);
        setDetails((d) => ({ ...d, [orderId]: { order, checks: (d[orderId]?.checks ?? 0) + 1, checkedAt: Date.now() } }));
        return null;
      } catch (e) {
        fetchOne(orderId);
        return e instanceof ApiError ? e : new ApiError(0, 'network_error', 'Cannot reach the shop.');
      }
    },
    [fetchOne],
  );
  const pay = useCallback((id: string) => act(id, (x) => api.pay(x)), [act, api]);
  const cancel = useCallback((id: string) => act(id, (x) => api.cancel(x)), [act, api]);

  return useMemo(() => ({ stored, details, add, refresh, pay, cancel }), [stored, details, add, refresh, pay, cancel]);
}
