import type { Sale } from '../../lib/types';
import { fmtPrice } from '../../lib/format';
import { fmtCountdown, msToBuy, salePhase } from '../lib/countdown';
import { drawWindow } from '../lib/draw';
import { saleHref } from '../lib/route';
import { Link } from './Link';
import { StatusBadge } from './StatusBadge';
import { UnitsLeft } from './UnitsLeft';

/** One sale in the list; the product's name links to its page (the whole card is the link's target area). */
export function SaleCard({ sale, serverNowMs }: { sale: Sale; serverNowMs: number }) {
  const phase = salePhase(sale, serverNowMs);
  const toBuy = msToBuy(sale, serverNowMs);
  const win = drawWindow(sale);
  return (
    <li className="panel sale-card" data-testid="sale-card" data-sale-id={sale.id} data-status={sale.status}>
      <div className="card-top">
        <StatusBadge phase={phase} status={sale.status} testId="card-status" />
        <span className="card-price">
          <span className="sr-only">Price </span>
          {fmtPrice(sale.price_cents)}
        </span>
      </div>
      <h2 className="card-title">
        <Link href={saleHref(sale.id)} className="card-link">
          {sale.product}
        </Link>
      </h2>
      <p className="sale-name">{sale.name}</p>
      <UnitsLeft remaining={sale.remaining} stock={sale.stock} compact />
      <p className="card-foot">
        <span>Limit {sale.per_user_limit} per buyer</span>
        {phase === 'upcoming' && toBuy !== null && (
          <span className="card-starts" data-testid="card-countdown">
            {win ? 'Draw opens in' : 'Starts in'} <b>{fmtCountdown(toBuy)}</b>
          </span>
        )}
        {phase === 'draw' && win && (
          <span className="card-starts" data-testid="card-countdown">
            Draw closes in <b>{fmtCountdown(win.closesAt - serverNowMs, true)}</b>
          </span>
        )}
      </p>
    </li>
  );
}
