import type { ReactNode } from 'react';
import {
  Activity,
  Boxes,
  CircleCheck,
  CreditCard,
  CircleX,
  Database,
  Gauge,
  Hourglass,
  Layers,
  ListChecks,
  Package,
  ShoppingCart,
  Timer,
  WifiOff,
} from 'lucide-react';
import { findSale, ledgerTerms, orderStatusRows, saleFigures, sortedRejections, totalFigures, type Figures, type StatsState } from '../lib/stats';
import type { Sale } from '../lib/types';
import { fmtDateTime, fmtDuration, fmtInt, fmtMs, fmtPrice, fmtRate, statusLabel } from '../lib/format';
import { Chart } from './Chart';
import { DrawTile, FairStartTerms } from './DrawTile';
import { Tile } from './Tile';

interface Props {
  stats: StatsState;
  stale: boolean;
  sales: Sale[];
  selectedId: string | null;
  onSelect: (id: string) => void;
  sale: Sale | null;
  salesError: string | null;
  now: number;
}

export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge status-${status}`} data-testid="sale-status" data-status={status}>
      <span className="dot" aria-hidden />
      {statusLabel(status)}
    </span>
  );
}

export function StatsPanel({ stats, stale, sales, selectedId, onSelect, sale, salesError, now }: Props) {
  const latest = stats.latest;
  const live = findSale(latest, selectedId);
  const total: Figures | null = latest ? totalFigures(latest) : null;
  const f: Figures | null = live ? saleFigures(live) : null;
  const t = latest?.totals;
  const scope = f ? 'sale' : 'all sales';
  const main = f ?? total;
  const pct = main && main.stock > 0 ? Math.max(0, Math.min(100, (main.remaining / main.stock) * 100)) : 0;
  const rejections = sortedRejections(t?.rejections);
  const maxRej = rejections.reduce((m, [, n]) => Math.max(m, n), 0);
  const options = [...sales].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));

  return (
    <section className="panel order-1" aria-labelledby="stats-title" data-stale={stale ? 'true' : 'false'}>
      <div className="panel-head">
        <h2 id="stats-title">
          <Activity size={16} aria-hidden /> Live stats
        </h2>
        <span className="spacer" />
        <div className="sale-picker">
          <label htmlFor="sale-select" className="tile-label">
            Sale
          </label>
          <select
            id="sale-select"
            value={selectedId ?? ''}
            onChange={(e) => onSelect(e.target.value)}
            disabled={options.length === 0}
            data-testid="sale-select"
          >
            {options.length === 0 && <option value="">No sale yet — create one</option>}
            {options.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name} · {statusLabel(s.status)}
              </option>
            ))}
          </select>
        </div>
      </div>

      {sale && (
        <div className="sale-meta" data-testid="sale-meta">
          <StatusBadge status={sale.status} />
          <span>
            Product <b>{sale.product}</b>
          </span>
          <span>
            Price <b>{fmtPrice(sale.price_cents)}</b>
          </span>
          <span>
            Limit <b>{sale.per_user_limit}</b>/buyer
          </span>
          <span data-testid="sale-payment-window" data-value={sale.payment_window_seconds ?? ''}>
            {sale.payment_window_seconds ? (
              <>
                Pay within <b>{fmtDuration(sale.payment_window_seconds)}</b>
              </>
            ) : (
              <>
                Payment window <b>none</b>
              </>
            )}
          </span>
          {(sale.starts_at || sale.ends_at) && (
            <span>
              Window <b>{fmtDateTime(sale.starts_at)}</b> → <b>{fmtDateTime(sale.ends_at)}</b>
            </span>
          )}
          <FairStartTerms sale={sale} />
          {sale.stock_buckets > 1 && (
            <span data-testid="sale-stock-buckets" data-value={sale.stock_buckets} title="Redis slots the live stock is split over (on the real stack)">
              Stock in <b>{sale.stock_buckets}</b> buckets
            </span>
          )}
        </div>
      )}
      {stale && (
        <div className="stale-banner" role="status" data-testid="stale-banner">
          <WifiOff size={15} aria-hidden />
          {stats.receivedAt
            ? `No stats for ${Math.round((now - stats.receivedAt) / 1000)} s: the figures below may be out of date. Reconnecting…`
            : 'Waiting for the first stats from the engine…'}
        </div>
      )}
      {salesError && <div className="result error">Sales list: {salesError}</div>}

      <div className="tiles">
        <Tile
          icon={<Boxes size={14} aria-hidden />}
          label="Stock left"
          testId="tile-stock"
          sub={
            <>
              of <b>{fmtInt(main?.stock)}</b> · all sales <b>{fmtInt(total?.remaining)}</b>
            </>
          }
        >
          <div className="figure accent" data-testid="stat-remaining" data-value={main?.remaining ?? ''}>
            {fmtInt(main?.remaining)}
          </div>
          <div className="meter" aria-hidden>
            <span style={{ width: `${pct}%` }} />
          </div>
        </Tile>
        <Tile
          icon={<ShoppingCart size={14} aria-hidden />}
          label="Units sold"
          testId="tile-sold"
          sub={
            <>
              {scope} · all sales <b>{fmtInt(total?.sold)}</b>
            </>
          }
        >
          <div className="figure" data-testid="stat-sold" data-value={main?.sold ?? ''}>
            {fmtInt(main?.sold)}
          </div>
        </Tile>
        <Tile
          icon={<Database size={14} aria-hidden />}
          label="Orders stored"
          testId="tile-orders"
          sub={
            <>
              in store · <b>{fmtInt(main?.unitsPersisted)}</b> units · all <b>{fmtInt(total?.ordersPersisted)}</b>
            </>
          }
        >
          <div className="figure" data-testid="stat-orders" data-value={main?.ordersPersisted ?? ''} data-units={main?.unitsPersisted ?? ''}>
            {fmtInt(main?.ordersPersisted)}
          </div>
        </Tile>
        <Tile
          icon={<Hourglass size={14} aria-hidden />}
          label="In flight"
          testId="tile-inflight"
          sub={
            <>
              {scope} · all sales <b>{fmtInt(total?.inFlight)}</b>
            </>
          }
        >
          <div className="figure" data-testid="stat-inflight" data-value={main?.inFlight ?? ''}>
            {fmtInt(main?.inFlight)}
          </div>
        </Tile>
        <Tile
          icon={<Layers size={14} aria-hidden />}
          label="Queue depth"
          testId="tile-queue"
          sub={<>all sales · order queue</>}
        >
          <div className="figure" data-testid="stat-queue">
            {fmtInt(t?.queue_depth)}
          </div>
        </Tile>
        <Tile
          icon={<Package size={14} aria-hidden />}
          label="Attempts/s"
          testId="tile-attempts"
          sub={
            <>
              accepted <b>{fmtRate(t?.accepted_per_second)}</b>/s · req <b>{fmtRate(t?.requests_per_second)}</b>/s
            </>
          }
        >
          <div className="figure" data-testid="stat-attempts">
            {fmtRate(t?.purchase_attempts_per_second)}
          </div>
        </Tile>
        <Tile icon={<Gauge size={14} aria-hidden />} label="p99 latency" testId="tile-p99" sub={<>all requests</>}>
          <div className="figure" data-testid="stat-p99">
            {fmtMs(t?.p99_latency_ms)}
            <small>ms</small>
          </div>
        </Tile>
        <LedgerTile f={main} total={total} scope={scope} />
        <Tile
          icon={<Timer size={14} aria-hidden />}
          label="Awaiting payment"
          testId="tile-awaiting"
          sub={
            <>
              {f && sale ? windowText(sale) : scope} · all sales <b>{fmtInt(total?.unitsAwaitingPayment)}</b>
            </>
          }
        >
          <div className="figure" data-testid="stat-awaiting" data-value={main?.unitsAwaitingPayment ?? ''}>
            {fmtInt(main?.unitsAwaitingPayment)}
          </div>
        </Tile>
        <Tile
          icon={<CreditCard size={14} aria-hidden />}
          label="Units paid"
          testId="tile-paid"
          sub={
            <>
              {scope} · all sales <b>{fmtInt(total?.unitsPaid)}</b>
            </>
          }
        >
          <div className="figure" data-testid="stat-paid" data-value={main?.unitsPaid ?? ''}>
            {fmtInt(main?.unitsPaid)}
          </div>
        </Tile>
        <OrdersByStatusTile f={main} scope={scope} />
        {f && <DrawTile draw={live?.draw ?? sale?.draw} />}
      </div>

      <div className="chart-wrap">
        <Chart points={stats.history} saleId={live ? selectedId : null} stale={stale} />
        <div className="rejections" data-testid="rejections">
          <h3 className="display">Rejections by code</h3>
          {rejections.length === 0 ? (
            <p className="muted">No rejection yet.</p>
          ) : (
            <ul>
              {rejections.map(([code, n]) => (
                <li key={code}>
                  <div className="rej-row">
                    <code>{code}</code>
                    <b>{fmtInt(n)}</b>
                  </div>
                  <div className="rej-bar" aria-hidden>
                    <span style={{ width: `${maxRej ? (n / maxRej) * 100 : 0}%` }} />
                  </div>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </section>
  );
}

function LedgerTile({ f, total, scope }: { f: Figures | null; total: Figures | null; scope: string }) {
  if (!f) {
    return (
      <Tile icon={<CircleCheck size={14} aria-hidden />} label="Ledger" testId="tile-ledger" sub="waiting for stats">
        <div className="figure" data-testid="ledger" data-ok="">
          —
        </div>
      </Tile>
    );
  }
  const ok = f.ledgerOk;
  const formula = `stock ${fmtInt(f.stock)} = ${ledgerTerms(f)
    .map(([n, what], i) => `${i === 0 ? '' : n < 0 ? '− ' : '+ '}${fmtInt(i === 0 ? n : Math.abs(n))} ${what}`)
    .join(' ')}`;
  return (
    <Tile
      icon={ok ? <CircleCheck size={14} aria-hidden /> : <CircleX size={14} aria-hidden />}
      label="Ledger"
      className={ok ? 'ledger-ok' : 'ledger-bad'}
      testId="tile-ledger"
      wrapSub
      sub={
        <span title={`stock = remaining + in flight + units awaiting payment + units paid + final orders of sales without a payment window (${scope})`}>
          {ok ? formula : `stock ≠ left + in flight + awaiting payment + paid`}
          {total && scope === 'sale' && !total.ledgerOk ? ` · all sales Δ ${total.ledgerDifference}` : ''}
        </span>
      }
    >
      <div
        className="figure"
        data-testid="ledger"
        data-ok={ok ? 'true' : 'false'}
        data-difference={f.ledgerDifference}
        aria-label={ok ? 'Ledger check OK' : `Ledger check failed, difference ${f.ledgerDifference}`}
      >
        {ok ? 'OK' : `Δ ${f.ledgerDifference > 0 ? '+' : ''}${fmtInt(f.ledgerDifference)}`}
      </div>
    </Tile>
  );
}

function windowText(sale: Sale): ReactNode {
  return sale.payment_window_seconds ? (
    <>
      <b>{fmtDuration(sale.payment_window_seconds)}</b> to pay
    </>
  ) : (
    'no window'
  );
}

function OrdersByStatusTile({ f, scope }: { f: Figures | null; scope: string }) {
  return (
    <Tile icon={<ListChecks size={14} aria-hidden />} label="Orders by status" className="span-2" testId="orders-by-status" sub={<>in store · {scope}</>}>
      <ul className="status-counts" aria-label={`Orders by status (${scope})`}>
        {orderStatusRows(f).map(([status, n]) => (
          <li key={status} className={`order-${status}`} data-testid={`orders-${status}`} data-value={f ? n : ''}>
            <span className="status-name">{statusLabel(status)}</span>
            <b>{f ? fmtInt(n) : '—'}</b>
          </li>
        ))}
      </ul>
    </Tile>
  );
}
