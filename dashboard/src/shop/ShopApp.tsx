import { useCallback, useEffect, useMemo, useState } from 'react';
import { applyTheme, initialTheme, type Theme } from '../lib/theme';
import { refusalWords } from './lib/answers';
import { SHOP_BASE } from './lib/route';
import { useBuyer } from './hooks/useBuyer';
import { useOrderBook } from './hooks/useOrderBook';
import { usePaymentsSimulated } from './hooks/usePayments';
import { useRoute } from './hooks/useRoute';
import { useServerClock } from './hooks/useServerClock';
import { useShopApi } from './hooks/useShopApi';
import { ShopContext, type Shop } from './ShopContext';
import { Link } from './components/Link';
import { SaleListPage } from './components/SaleListPage';
import { SalePage } from './components/SalePage';
import { ShopHeader } from './components/ShopHeader';

/** The buyers' page: the sales, one sale with Buy, the buyer's orders. */
export function ShopApp() {
  const [theme, setTheme] = useState<Theme>(() => initialTheme());
  useEffect(() => applyTheme(theme), [theme]);
  const toggleTheme = useCallback(() => setTheme((t) => (t === 'dark' ? 'light' : 'dark')), []);

  const { buyer, message, signIn, signOut } = useBuyer();
  const clock = useServerClock();
  const refused = useCallback(() => signOut(refusalWords('unauthorized').text), [signOut]);
  const api = useShopApi(buyer?.token ?? null, clock.record, refused);
  const book = useOrderBook(api, buyer?.id ?? null, clock.offset);
  const paymentsSimulated = usePaymentsSimulated(api);
  const { route, navigate } = useRoute();

  const shop = useMemo<Shop>(
    () => ({ api, buyer, signInMessage: message, signIn, clockOffset: clock.offset, book, paymentsSimulated, navigate }),
    [api, buyer, message, signIn, clock.offset, book, paymentsSimulated, navigate],
  );

  return (
    <ShopContext.Provider value={shop}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <ShopHeader theme={theme} onToggleTheme={toggleTheme} onSignOut={() => signOut()} />
      <main id="main" className="shop-main" tabIndex={-1} data-clock-offset={clock.offset} data-testid="shop-main">
        {route.page === 'list' && <SaleListPage />}
        {route.page === 'sale' && <SalePage key={route.id} id={route.id} />}
        {route.page === 'not_found' && (
          <div className="shop-page narrow">
            <section className="panel">
              <h1 className="page-title">Page not found</h1>
              <p className="panel-sub">
                Nothing here. <Link href={SHOP_BASE}>See the sales</Link>.
              </p>
            </section>
          </div>
        )}
      </main>
      <footer className="footer">FlashSale shop · figures pushed live · one press of Buy is one purchase</footer>
    </ShopContext.Provider>
  );
}
