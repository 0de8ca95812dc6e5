// What the buyer reads: every answer of the engine in plain words. One
// place, so the page, its screen-reader announcements and the tests say the
// same thing.
import type { Order } from '../../lib/types';
import { fmtClock } from '../../lib/format';
import { countdownWords } from './countdown';
import type { EntryStage } from './draw';
import type { IntentState, RetryReason } from './intent';

export interface SaleContext {
  /** the sale's status as last seen (tells "not started" from "paused") */
  status?: string;
  starts_at?: string | null;
  per_user_limit?: number;
}

export type Tone = 'ok' | 'busy' | 'warn' | 'error';

export interface Words {
  /** a short heading: "Sold out", "Limit reached", … */
  title: string;
  /** the sentence announced */
  text: string;
  tone: Tone;
}

const units = (n: number) => `${n} unit${n === 1 ? '' : 's'}`;
/** "1 unit is", "2 units are" */
const unitsAre = (n: number) => `${units(n)} ${n === 1 ? 'is' : 'are'}`;

/** A refusal (an error code of the API, or `network_error`) in plain words. */
export function refusalWords(code: string, sale: SaleContext = {}, message = ''): Words {
  const error = (title: string, text: string): Words => ({ title, text, tone: 'error' });
  const warn = (title: string, text: string): Words => ({ title, text, tone: 'warn' });
  switch (code) {
    case 'sold_out':
      return warn('Sold out', 'Sold out: every unit has been sold. Units of unpaid orders may come back on sale.');
    case 'sale_not_active':
      if (sale.status === 'scheduled')
        return warn(
          'Not started',
          sale.starts_at ? `Not started yet: the sale opens at ${fmtClock(sale.starts_at)}.` : 'Not started yet: the sale has not opened.',
        );
      if (sale.status === 'paused') return warn('Paused', 'Paused: the sale is on hold. Try again when it resumes.');
      if (sale.status === 'ended') return warn('Ended', 'Ended: this sale is over.');
      return warn('Not open', 'The sale is not open for purchases right now.');
    case 'limit_exceeded':
      return warn(
        'Limit reached',
        typeof sale.per_user_limit === 'number'
          ? `Limit reached: each buyer may buy at most ${units(sale.per_user_limit)} of this sale, and you already have your share.`
          : 'Limit reached: you already have as many units of this sale as a buyer may buy.',
      );
    case 'rate_limited':
      return warn('Too many requests', 'Too many requests: the shop asked you to slow down. Wait a moment, then try again.');
    case 'overloaded':
      return warn('Shop busy', 'The shop is overloaded right now. Wait a moment, then try again.');
    case 'unavailable':
    case 'internal':
      return error('Shop unavailable', 'The shop is unavailable right now. Wait a moment, then try again.');
    case 'network_error':
      return error('No connection', 'Cannot reach the shop: check your connection, then try again.');
    case 'unauthorized':
      return error('Signed out', 'Your sign-in is no longer accepted (the link may have expired): sign in again.');
    case 'sale_not_found':
      return error('No such sale', 'This sale does not exist.');
    case 'order_not_found':
      return error('No such order', 'The shop has no such order for you.');
    case 'idempotency_key_reused':
      return error('Request reused', 'This request was already used for another quantity: press Buy again.');
    case 'invalid_request':
      return error('Refused', `The shop refused the request${message ? `: ${message}` : '.'}`);
    case 'order_expired':
      return warn('Too late', 'Too late: the order expired before it was paid; its units are back on sale.');
    case 'order_cancelled':
      return warn('Cancelled', 'This order was cancelled; its units are back on sale.');
    case 'order_paid':
      return warn('Already paid', 'This order is paid already: it cannot be cancelled.');
    case 'order_not_awaiting_payment':
      return warn('Not awaiting payment', 'This order is not awaiting payment.');
    case 'not_found':
      return error('Not available', 'Payments are not taken on this page: the shop uses a payment provider.');
    default:
      return error('Refused', message ? `The shop refused: ${message}` : `The shop refused (${code}).`);
  }
}

/** Why an attempt is tried again, in words. */
export function retryWords(reason: RetryReason): string {
  switch (reason) {
    case 'rate_limited':
      return 'Too many requests';
    case 'overloaded':
      return 'The shop is busy';
    case 'unavailable':
      return 'The shop is unavailable';
    case 'network':
      return 'Connection lost';
  }
}

/** An order's status in words (`paymentLeftMs`: time left to pay, on the engine's clock). */
export function orderWords(order: Pick<Order, 'order_id' | 'status' | 'quantity' | 'payment_due_at' | 'void_reason'>): Words {
  const id = `Order ${order.order_id}`;
  switch (order.status) {
    case 'pending':
      return { title: 'Pending', text: `${id} is pending: your ${unitsAre(order.quantity)} reserved, waiting for confirmation…`, tone: 'busy' };
    case 'confirmed':
      return order.payment_due_at
        ? { title: 'Confirmed', text: `${id} is confirmed: pay by ${fmtClock(order.payment_due_at)} to keep it.`, tone: 'ok' }
        : { title: 'Confirmed', text: `${id} is confirmed: the ${unitsAre(order.quantity)} yours.`, tone: 'ok' };
    case 'paid':
      return { title: 'Paid', text: `${id} is paid. Thank you!`, tone: 'ok' };
    case 'expired':
      return { title: 'Expired', text: `${id} expired: it was not paid in time, its units are back on sale.`, tone: 'warn' };
    case 'cancelled':
      return { title: 'Cancelled', text: `${id} is cancelled: its units are back on sale.`, tone: 'warn' };
    case 'void':
      return { title: 'Void', text: `${id} is void${order.void_reason ? `: ${order.void_reason}` : ''}.`, tone: 'error' };
    default:
      return { title: order.status, text: `${id}: ${order.status}.`, tone: 'busy' };
  }
}

/**
 * The sentence for the state of the buyer's latest intent (and its order,
 * once accepted), announced by the page's aria-live region. `now`: client ms.
 */
export function intentWords(s: IntentState, sale: SaleContext, order: Order | undefined, now: number = Date.now()): Words | null {
  switch (s.phase) {
    case 'idle':
      return null;
    case 'sending':
      return {
        title: 'Sending',
        text:
          s.attempt === 1
            ? `Buying ${units(s.intent.quantity)}…`
            : `Buying ${units(s.intent.quantity)}: attempt ${s.attempt}, with the same request (it cannot buy twice)…`,
        tone: 'busy',
      };
    case 'waiting': {
      const secs = Math.max(1, Math.ceil((s.retryAt - now) / 1000));
      return {
        title: 'Retrying',
        text: `${retryWords(s.reason)}: trying again in ${countdownWords(secs * 1000)} with the same request (it cannot buy twice).`,
        tone: 'busy',
      };
    }
    case 'accepted': {
      if (order && order.order_id === s.orderId) return orderWords(order);
      return { title: 'Pending', text: `Order ${s.orderId} is pending: your ${unitsAre(s.intent.quantity)} reserved, waiting for confirmation…`, tone: 'busy' };
    }
    case 'refused':
      return refusalWords(s.code, sale, s.message);
    case 'gave_up': {
      const later = s.retryAfterMs !== null && s.retryAfterMs > 0 ? ` The shop asks to wait ${countdownWords(s.retryAfterMs)}.` : '';
      return {
        title: 'No answer',
        text: `${retryWords(s.reason)}: no answer after ${s.attempts} attempts over a minute, so the page stopped trying.${later} Press Buy to try again: it resends the same request, so it cannot buy twice.`,
        tone: 'error',
      };
    }
  }
}

/** A local refusal: the buyer already holds the limit (by the orders on this device). */
export function limitHeldWords(limit: number, held: number): Words {
  return {
    title: 'Limit reached',
    text: `Limit reached: each buyer may buy at most ${units(limit)} of this sale, and you already have ${units(held)}.`,
    tone: 'warn',
  };
}

/**
 * The buyer's entry in a fair start's draw while its answer is awaited
 * (`s`: the open intent). Said once per change, not every second: the time
 * left is shown apart (a timer, not announced). `closesAt`: the window's
 * end, an engine time (ISO).
 */
export function drawEntryWords(stage: EntryStage, s: IntentState, closesAt: string | null): Words {
  if (stage === 'drawing') {
    return {
      title: 'Drawing',
      text: 'The draw is closed: the entries are answered in the drawn order. Your answer comes here in a moment.',
      tone: 'busy',
    };
  }
  const when = closesAt ? `It closes at ${fmtClock(closesAt)}` : 'It closes soon';
  // the same words while waiting to retry and while retrying: not re-announced at each attempt
  const again = s.phase === 'waiting' || (s.phase === 'sending' && s.attempt > 1);
  const retry = again ? ' Still waiting: the page asks again with the same entry (it cannot buy twice).' : '';
  return {
    title: 'In the draw',
    text: `You are in the draw. ${when}; then every entry is drawn in a random order, not by speed, and answered in turn. Keep this page open.${retry}`,
    tone: 'busy',
  };
}
