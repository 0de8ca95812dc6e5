import { useCallback, useEffect, useRef, useState } from 'react';
import { ArrowLeft, Radio } from 'lucide-react';
import { fmtClock, fmtDateTime, fmtDuration, fmtPrice } from '../../lib/format';
import type { Sale } from '../../lib/types';
import { drawEntryWords, intentWords, limitHeldWords, type Words } from '../lib/answers';
import { engineMs } from '../lib/clock';
import { buyable, msToBuy, salePhase, type SalePhase } from '../lib/countdown';
import { drawWindow, entryStage, nextDrawBoundary, type DrawWindow } from '../lib/draw';
import { isOpen } from '../lib/intent';
import { unitsHeld } from '../lib/orders';
import { SHOP_BASE } from '../lib/route';
import { useLiveSale } from '../hooks/useLiveSale';
import { useNow, useWakeAt } from '../hooks/useNow';
import { usePurchase } from '../hooks/usePurchase';
import { useShop } from '../ShopContext';
import { Answer, type AnswerData } from './Answer';
import { BuyerSignIn } from './BuyerSignIn';
import { BuyPanel } from './BuyPanel';
import { Countdown } from './Countdown';
import { DrawEntry } from './DrawEntry';
import { FairStartNotice } from './FairStartNotice';
import { Link } from './Link';
import { MyOrders } from './MyOrders';
import { OrderActions } from './OrderActions';
import { StatusBadge } from './StatusBadge';
import { UnitsLeft } from './UnitsLeft';

const CLOSED_HINT: Partial<Record<SalePhase, string>> = {
  upcoming: 'Buy opens when the countdown ends.',
  waiting: 'Buy opens when the shop starts this sale.',
  paused: 'The sale is paused: Buy comes back when it resumes.',
  ended: 'This sale is over.',
};

const ANNOUNCE: Partial<Record<string, string>> = {
  'upcoming>open': 'The sale is open: you can buy now.',
  'upcoming>draw': 'The draw is open: press Buy to enter it. The order is random, not by speed.',
  'draw>open': 'The draw is closed: first come, first served from now.',
};

const iso = (ms: number) => new Date(ms).toISOString();

/** One sale: its figures live, the countdown to its start, Buy, and the answer. */
export function SalePage({ id }: { id: string }) {
  const { api, buyer, clockOffset, book } = useShop();
  const { sale, error, live, patch } = useLiveSale(api, id);
  const win = sale ? drawWindow(sale) : null;
  // a countdown runs until the start, or until a fair start's draw closes
  const soon = sale?.status === 'scheduled' || (win !== null && Date.now() + clockOffset < win.closesAt + 2000);
  const now = useNow(soon ? 250 : 1000);
  const serverNowMs = now + clockOffset;
  const startMs = engineMs(sale?.starts_at);
  // enable Buy at the very start (or the draw's opening), and see the draw close, between two ticks
  const wakeAt = win ? nextDrawBoundary(win, serverNowMs) : sale?.status === 'scheduled' ? startMs : null;
  useWakeAt(wakeAt !== null ? wakeAt - clockOffset : null);

  const saleRef = useRef<Sale | null>(sale);
  saleRef.current = sale;
  const onAccepted = useCallback(
    (s: { orderId: string; remaining: number; replayed: boolean; intent: { quantity: number } }) => {
      const current = saleRef.current;
      book.add({ order_id: s.orderId, sale_id: id, quantity: s.intent.quantity, placed_at: Date.now(), product: current?.product, sale_name: current?.name });
      // the stream says it within a second; a fresh answer says it now
      if (!s.replayed && current && s.remaining < current.remaining) patch({ remaining: s.remaining });
    },
    [book, id, patch],
  );
  const purchase = usePurchase(api, id, { onAccepted });
  const [local, setLocal] = useState<Words | null>(null);
  const [quantity, setQuantity] = useState(1);

  // "the sale is open", said once when the countdown ends on this page
  const [announce, setAnnounce] = useState('');
  const lastPhase = useRef<SalePhase | null>(null);
  const phase = sale ? salePhase(sale, serverNowMs) : null;
  useEffect(() => {
    const said = ANNOUNCE[`${lastPhase.current}>${phase}`];
    if (said) setAnnounce(said);
    lastPhase.current = phase;
  }, [phase]);

  if (error === 'not_found') {
    return (
      <div className="shop-page narrow">
        <BackLink />
        <section className="panel" aria-labelledby="nf-title">
          <h1 id="nf-title" className="page-title">
            No such sale
          </h1>
          <p className="panel-sub">This sale does not exist (or no longer). See the sales on now.</p>
        </section>
      </div>
    );
  }
  if (!sale || !phase) {
    return (
      <div className="shop-page narrow">
        <BackLink />
        <p className="muted" role="status" data-testid="sale-loading">
          {error ? `Cannot load the sale: ${error}` : 'Loading the sale…'}
        </p>
      </div>
    );
  }

  const held = buyer ? unitsHeld(book.stored, orderMap(book.details), id, serverNowMs) : 0;
  const allowance = Math.max(0, sale.per_user_limit - held);
  const max = Math.max(1, allowance);
  const q = Math.min(quantity, max);
  const canBuy = !!buyer && !purchase.busy && buyable(phase);
  const toBuy = msToBuy(sale, serverNowMs);

  const onBuy = () => {
    if (!buyer || purchase.busy) return;
    if (held > 0 && allowance < q) {
      // the buyer's own orders already reach the limit: say so without asking the engine
      purchase.reset();
      setLocal(limitHeldWords(sale.per_user_limit, held));
      book.refresh();
      return;
    }
    setLocal(null);
    // in a fair start's window the press is an entry in the draw: its request waits for the close
    purchase.buy(q, phase === 'draw' && win ? { drawClosesAt: win.closesAt - clockOffset } : {});
  };

  const st = purchase.state;
  const orderId = st.phase === 'accepted' ? st.orderId : undefined;
  const order = orderId ? book.details[orderId]?.order : undefined;
  const stage = entryStage(st, sale.draw, now);
  const words = local ?? (stage ? drawEntryWords(stage, st, win ? iso(win.closesAt) : null) : intentWords(st, sale, order, now));
  const data: AnswerData = local
    ? { phase: 'local', code: 'limit_exceeded' }
    : {
        phase: st.phase,
        code: st.phase === 'refused' ? st.code : st.phase === 'gave_up' || st.phase === 'waiting' ? st.reason : undefined,
        orderId,
        status: orderId ? (order?.status ?? 'pending') : undefined,
        replayed: st.phase === 'accepted' && st.replayed,
        draw: stage ?? undefined,
      };

  const hint = !buyer
    ? 'Sign in to buy.'
    : (drawHint(phase, win, sale.per_user_limit) ??
      CLOSED_HINT[phase] ??
      (held > 0
        ? `You have ${held} of the ${sale.per_user_limit} allowed per buyer.`
        : phase === 'sold_out'
          ? 'Sold out for now: units of orders not paid in time come back on sale.'
          : `Up to ${sale.per_user_limit} per buyer. One press is one purchase, even if the network retries it.`));

  return (
    <div className="shop-page narrow">
      <BackLink />
      <article className="panel sale-hero" aria-labelledby="sale-title" data-testid="sale" data-sale-id={sale.id}>
        <div className="hero-top">
          <StatusBadge phase={phase} status={sale.status} />
          <span className={`badge live ${live === 'live' ? 'ok' : 'warn'}`} data-testid="live-status" data-live={live} title="Figures pushed by the shop as they change">
            <Radio size={12} aria-hidden /> {live === 'live' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
          </span>
        </div>
        <h1 id="sale-title" className="page-title">
          {sale.product}
        </h1>
        <p className="sale-name">{sale.name}</p>
        <p className="price" data-testid="price">
          <span className="sr-only">Price </span>
          {fmtPrice(sale.price_cents)}
        </p>
        <UnitsLeft remaining={sale.remaining} stock={sale.stock} />
        <dl className="facts">
          <div>
            <dt>Limit</dt>
            <dd data-testid="limit">{sale.per_user_limit} per buyer</dd>
          </div>
          <div>
            <dt>Pay within</dt>
            <dd>{sale.payment_window_seconds > 0 ? fmtDuration(sale.payment_window_seconds) : 'no payment step'}</dd>
          </div>
          {sale.starts_at && (
            <div>
              <dt>Starts</dt>
              <dd>{fmtDateTime(sale.starts_at)}</dd>
            </div>
          )}
          {sale.ends_at && (
            <div>
              <dt>Ends</dt>
              <dd>{fmtDateTime(sale.ends_at)}</dd>
            </div>
          )}
        </dl>
      </article>

      <section className="panel buy-box" aria-labelledby="buy-title">
        <h2 id="buy-title" className="section-title">
          Your purchase
        </h2>
        <FairStartNotice win={win} draw={sale.draw} serverNowMs={serverNowMs} />
        {phase === 'upcoming' && toBuy !== null && <Countdown msLeft={toBuy} label={win ? 'Draw opens in' : 'Starts in'} />}
        {phase === 'draw' && win && !stage && <Countdown msLeft={win.closesAt - serverNowMs} label="Draw closes in" testId="draw-window-countdown" compact />}
        {!buyer && <BuyerSignIn />}
        <BuyPanel quantity={q} max={max} onQuantity={setQuantity} onBuy={onBuy} enabled={canBuy} busy={purchase.busy} busyLabel={stage ? 'In the draw…' : undefined} hint={hint} />
        {stage && isOpen(st) && <DrawEntry stage={stage} msLeft={(st.intent.drawClosesAt ?? now) - now} draw={sale.draw} />}
        <p className="sr-only" aria-live="polite">
          {announce}
        </p>
        <Answer words={words} data={data} />
        {order && <OrderActions order={order} />}
      </section>

      {buyer && <MyOrders saleId={id} shownOrderId={order ? orderId : undefined} />}
    </div>
  );
}

/** The hint under Buy before and during a fair start's draw (null otherwise). */
function drawHint(phase: SalePhase, win: DrawWindow | null, limit: number): string | null {
  if (!win) return null;
  if (phase === 'upcoming') return `Buy opens at ${fmtClock(iso(win.opensAt))}, when the draw opens.`;
  if (phase === 'draw') return `Press Buy before ${fmtClock(iso(win.closesAt))} to enter the draw (up to ${limit} per buyer): one press is one entry, and pressing early gives no edge.`;
  return null;
}

function BackLink() {
  return (
    <nav className="crumbs" aria-label="Breadcrumb">
      <Link href={SHOP_BASE}>
        <ArrowLeft size={14} aria-hidden /> All sales
      </Link>
    </nav>
  );
}

function orderMap(details: Record<string, { order?: import('../../lib/types').Order }>) {
  const m: Record<string, import('../../lib/types').Order | undefined> = {};
  for (const [k, v] of Object.entries(details)) m[k] = v.order;
  return m;
}
