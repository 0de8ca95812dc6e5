import type { Sale } from '../../lib/types';
import { fmtPrice } from '../../lib/format';
import { fmtCountdown, msToStart, salePhase } from '../lib/countdown';
import { saleHref } from '../lib/route';
import { Link } from './Link';
import { StatusBadge } from './StatusBadge';
import { UnitsLeft } from './UnitsLeft';

/** One sale in the list; the product's name links to its page (the whole card is the link's target area). */
export function SaleCard({ sale, serverNowMs }: { sale: Sale; serverNowMs: number }) {
  const phase = salePhase(sale, serverNowMs);
  const toStart = msToStart(sale, serverNowMs);
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
        {phase === 'upcoming' && toStart !== null && (
          <span className="card-starts" data-testid="card-countdown">
            Starts in <b>{fmtCountdown(toStart)}</b>
          </span>
        )}
      </p>
    </li>
  );
}
