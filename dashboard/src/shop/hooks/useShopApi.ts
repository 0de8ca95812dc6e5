import { useMemo, useRef } from 'react';
import type { ClockSample } from '../lib/clock';
import { ShopApi } from '../lib/shopApi';

/** One API client for the page; it reads the token and the handlers at call time. */
export function useShopApi(token: string | null, onClock: (s: ClockSample) => void, onUnauthorized: () => void): ShopApi {
  const current = useRef({ token, onClock, onUnauthorized });
  current.current = { token, onClock, onUnauthorized };
  return useMemo(
    () =>
      new ShopApi({
        getToken: () => current.current.token,
        onClock: (s) => current.current.onClock(s),
        onUnauthorized: () => current.current.onUnauthorized(),
      }),
    [],
  );
}
