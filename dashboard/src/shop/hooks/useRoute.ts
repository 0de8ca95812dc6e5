import { useCallback, useEffect, useState } from 'react';
import { parseRoute, type Route } from '../lib/route';

/** The page shown, from the address bar; `navigate` follows a shop link without a reload. */
export function useRoute() {
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.pathname));
  useEffect(() => {
    const onPop = () => setRoute(parseRoute(window.location.pathname));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((href: string) => {
    const url = new URL(href, window.location.href);
    if (url.pathname + url.search !== window.location.pathname + window.location.search) {
      window.history.pushState(null, '', url.pathname + url.search + url.hash);
    }
    setRoute(parseRoute(url.pathname));
    window.scrollTo?.(0, 0);
  }, []);
  return { route, navigate };
}
