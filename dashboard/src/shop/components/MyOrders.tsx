import { useState } from 'react';
import { RefreshCw, ReceiptText } from 'lucide-react';
import { fmtClock } from '../../lib/format';
import { awaitingPayment } from '../lib/orders';
import { saleHref } from '../lib/route';
import { useShop } from '../ShopContext';
import { Link } from './Link';
import { OrderActions } from './OrderActions';
import { OrderStatusBadge } from './StatusBadge';

/**
 * The orders this buyer made on this device, newest first, with their
 * status (followed by the order book; Refresh asks again at once). On a
 * sale's page (`saleId`) that sale's link is left out, and so are Pay and
 * Cancel of the order its answer already shows (`shownOrderId`).
 */
const units = (n: number) => `${n} unit${n === 1 ? '' : 's'}`;

export function MyOrders({ saleId, shownOrderId }: { saleId?: string; shownOrderId?: string }) {
  const { book } = useShop();
  const [refreshed, setRefreshed] = useState(0);
  return (
    <section className="panel my-orders" aria-labelledby="my-orders-title" data-testid="my-orders">
      <div className="panel-head">
        <h2 id="my-orders-title">
          <ReceiptText size={15} aria-hidden /> My orders on this device
        </h2>
        <span className="spacer" />
        <button
          type="button"
          className="btn small"
          onClick={() => {
            book.refresh();
            setRefreshed((n) => n + 1);
          }}
          data-testid="orders-refresh"
          aria-describedby={refreshed ? 'orders-refreshed' : undefined}
        >
          <RefreshCw size={13} aria-hidden /> Refresh
        </button>
      </div>
      {book.stored.length === 0 ? (
        <p className="muted">No orders on this device yet.</p>
      ) : (
        <ul className="order-list">
          {book.stored.map((s) => {
            const d = book.details[s.order_id];
            const o = d?.order;
            const status = o?.status ?? (d?.code === 'order_not_found' ? 'pending' : 'unknown');
            return (
              <li key={s.order_id} data-testid="my-order" data-order-id={s.order_id} data-status={status} data-sale-id={s.sale_id}>
                <div className="order-line">
                  <div className="order-what">
                    <b>{s.product ?? 'Sale'}</b>
                    <span className="order-sub">
                      {units(o?.quantity ?? s.quantity)} · {fmtClock(o?.created_at ?? new Date(s.placed_at).toISOString())}
                    </span>
                  </div>
                  {status === 'unknown' ? (
                    <span className="badge" data-testid="order-status" data-status="unknown">
                      {d?.error ? 'unreachable' : 'checking…'}
                    </span>
                  ) : (
                    <OrderStatusBadge status={status} awaitingPayment={awaitingPayment(o)} />
                  )}
                </div>
                <div className="order-meta">
                  <code title="Order id">{s.order_id}</code>
                  {s.sale_id !== saleId && (
                    <Link href={saleHref(s.sale_id)} className="order-sale-link">
                      View sale<span className="sr-only">: {s.product ?? s.sale_id}</span>
                    </Link>
                  )}
                </div>
                {o && awaitingPayment(o) && s.order_id !== shownOrderId && <OrderActions order={o} compact />}
              </li>
            );
          })}
        </ul>
      )}
      {refreshed > 0 && (
        <span className="sr-only" id="orders-refreshed">
          Refreshed
        </span>
      )}
    </section>
  );
}
