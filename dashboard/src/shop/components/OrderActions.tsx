import { useState } from 'react';
import { CreditCard, LoaderCircle, X } from 'lucide-react';
import type { Order } from '../../lib/types';
import { engineMs } from '../lib/clock';
import { fmtCountdown, countdownWords } from '../lib/countdown';
import { refusalWords } from '../lib/answers';
import { useShop } from '../ShopContext';
import { useNow } from '../hooks/useNow';

/**
 * An order awaiting payment: the time left to pay (on the engine's clock),
 * Pay (when the engine takes payments itself) and Cancel (asked twice).
 */
export function OrderActions({ order, compact = false }: { order: Order; compact?: boolean }) {
  const { book, clockOffset, paymentsSimulated } = useShop();
  const now = useNow(1000);
  const [busy, setBusy] = useState<'pay' | 'cancel' | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const due = engineMs(order.payment_due_at);
  if (order.status !== 'confirmed' || due === null) return null;
  // The engine's clock is known to within a round trip: never show more
  // time than the order was given (its due date after its creation).
  const created = engineMs(order.created_at);
  const left = Math.min(due - (now + clockOffset), created === null ? Infinity : due - created);
  const id = order.order_id;

  const run = async (what: 'pay' | 'cancel') => {
    setBusy(what);
    setProblem(null);
    const err = await (what === 'pay' ? book.pay(id) : book.cancel(id));
    setBusy(null);
    setConfirming(false);
    if (err) setProblem(refusalWords(err.code, {}, err.message).text);
  };

  return (
    <div className={`order-actions${compact ? ' compact' : ''}`} data-testid="order-actions" data-order-id={id}>
      <div className="pay-left" role="timer" aria-label={left > 0 ? `Time left to pay: ${countdownWords(left)}` : 'The time to pay is over'} data-testid="pay-time-left" data-ms={Math.max(0, Math.round(left))}>
        <span aria-hidden>{left > 0 ? 'Time left to pay' : 'Time to pay is over'}</span>
        <b aria-hidden>{fmtCountdown(left, true)}</b>
      </div>
      {!confirming ? (
        <div className="btn-row">
          {paymentsSimulated && (
            <button type="button" className="btn primary" onClick={() => run('pay')} disabled={busy !== null || left <= 0} aria-busy={busy === 'pay'} data-testid="pay">
              {busy === 'pay' ? <LoaderCircle size={15} className="spin" aria-hidden /> : <CreditCard size={15} aria-hidden />}
              Pay
            </button>
          )}
          <button type="button" className="btn danger" onClick={() => setConfirming(true)} disabled={busy !== null} data-testid="cancel">
            <X size={15} aria-hidden /> Cancel order
          </button>
        </div>
      ) : (
        <div className="confirm" role="group" aria-label="Cancel this order?">
          <p>Cancel this order? Its units go back on sale and stop counting toward your limit.</p>
          <div className="btn-row">
            <button type="button" className="btn danger solid" onClick={() => run('cancel')} disabled={busy !== null} aria-busy={busy === 'cancel'} data-testid="cancel-confirm" autoFocus>
              {busy === 'cancel' ? <LoaderCircle size={15} className="spin" aria-hidden /> : <X size={15} aria-hidden />} Yes, cancel it
            </button>
            <button type="button" className="btn" onClick={() => setConfirming(false)} disabled={busy !== null}>
              Keep it
            </button>
          </div>
        </div>
      )}
      {problem && (
        <div className="result error" role="alert" data-testid="order-action-error">
          {problem}
        </div>
      )}
    </div>
  );
}
