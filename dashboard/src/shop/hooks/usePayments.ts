import { useEffect, useState } from 'react';
import type { ShopApi } from '../lib/shopApi';

/**
 * Whether this page can pay orders itself: the engine runs simulated
 * payments (`GET /api/health` → `components.payments.detail` "simulated …").
 * Otherwise a payment provider takes them and Pay is not offered.
 */
export function usePaymentsSimulated(api: ShopApi): boolean {
  const [simulated, setSimulated] = useState(false);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const check = async () => {
      try {
        const h = await api.health();
        if (!stopped) setSimulated(paymentsAreSimulated(h?.components?.payments?.detail));
      } catch {
        if (!stopped) timer = setTimeout(check, 10_000);
      }
    };
    check();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api]);
  return simulated;
}

export function paymentsAreSimulated(detail: string | undefined | null): boolean {
  return typeof detail === 'string' && /^simulated\b/i.test(detail.trim());
}
