import { Store } from 'lucide-react';
import { useNow } from '../hooks/useNow';
import { useSaleList } from '../hooks/useSaleList';
import { useShop } from '../ShopContext';
import { BuyerSignIn } from './BuyerSignIn';
import { MyOrders } from './MyOrders';
import { SaleCard } from './SaleCard';

/** `/shop/`: the sales on now, upcoming, or sold out (not paused or ended ones). */
export function SaleListPage() {
  const { api, buyer, clockOffset } = useShop();
  const { sales, error } = useSaleList(api);
  const now = useNow(1000);
  return (
    <div className="shop-page">
      <div className="page-head">
        <h1 className="page-title">
          <Store size={20} aria-hidden /> Flash sales
        </h1>
        <p className="panel-sub">On sale now, starting soon, and just sold out.</p>
      </div>
      {error && (
        <p className="result error" role="alert">
          Cannot load the sales: {error}
        </p>
      )}
      {sales === null ? (
        !error && (
          <p className="muted" role="status">
            Loading the sales…
          </p>
        )
      ) : sales.length === 0 ? (
        <p className="muted" data-testid="no-sales">
          No sale right now. Come back soon!
        </p>
      ) : (
        <ul className="sale-grid" aria-label="Sales" data-testid="sale-list">
          {sales.map((s) => (
            <SaleCard key={s.id} sale={s} serverNowMs={now + clockOffset} />
          ))}
        </ul>
      )}
      {buyer ? (
        <MyOrders />
      ) : (
        <section className="panel" aria-labelledby="signin-title">
          <h2 id="signin-title" className="section-title">
            Sign in to buy
          </h2>
          <BuyerSignIn />
        </section>
      )}
    </div>
  );
}
