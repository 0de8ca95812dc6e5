// The buyer's orders on this device: their ids kept per buyer in
// localStorage (the API has no "my orders" listing), their details fetched
// from `GET /api/orders/{id}`, and when each is next worth asking about.
import type { Order } from '../../lib/types';
import { engineMs } from './clock';

export interface StoredOrder {
  order_id: string;
  sale_id: string;
  quantity: number;
  /** client ms when the purchase was accepted */
  placed_at: number;
  /** the sale's product and name then, to list the order without fetching its sale */
  product?: string;
  sale_name?: string;
}

export const MAX_STORED = 100;
export const ordersKey = (buyer: string) => `flashsale.shop.orders.${buyer}`;

export function loadOrders(buyer: string, storage: Storage | null = safeLocal()): StoredOrder[] {
  try {
    const raw = storage?.getItem(ordersKey(buyer));
    if (!raw) return [];
    const list = JSON.parse(raw);
    if (!Array.isArray(list)) return [];
    return list.filter(
      (o): o is StoredOrder =>
        o && typeof o.order_id === 'string' && typeof o.sale_id === 'string' && Number.isFinite(o.quantity) && Number.isFinite(o.placed_at),
    );
  } catch {
    return [];
  }
}

export function saveOrders(buyer: string, list: StoredOrder[], storage: Storage | null = safeLocal()) {
  try {
    storage?.setItem(ordersKey(buyer), JSON.stringify(list.slice(0, MAX_STORED)));
  } catch {
    /* storage full or disabled: the list lasts as long as the page */
  }
}

/** Newest first; an id already kept is not added twice (a replayed answer is the same order). */
export function withOrder(list: StoredOrder[], o: StoredOrder): StoredOrder[] {
  if (list.some((x) => x.order_id === o.order_id)) return list;
  return [o, ...list].slice(0, MAX_STORED);
}

function safeLocal(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

/** Statuses after which an order never changes. */
export const FINAL = ['paid', 'expired', 'cancelled', 'void'];

/** Whether an order waits for its buyer to pay (confirmed, with a payment deadline). */
export function awaitingPayment(o: Order | undefined): boolean {
  return !!o && o.status === 'confirmed' && !!o.payment_due_at;
}

/** Whether nothing more can happen to an order (a confirmed order without a payment window is final too). */
export function isFinal(o: Order | undefined): boolean {
  if (!o) return false;
  return FINAL.includes(o.status) || (o.status === 'confirmed' && !o.payment_due_at);
}

/**
 * Milliseconds until an order is next fetched, after `checks` fetches of it,
 * `sinceCheck` ms after the last; Infinity when it cannot change any more.
 * - never fetched: now;
 * - pending (or not found yet, or unreachable): 500 ms, then ×1.5 each time, up to 5 s;
 * - awaiting payment: every 15 s (paid elsewhere, voided), and right after its deadline;
 * - past its deadline but not yet `expired`: every 2 s.
 */
export function nextCheckIn(o: Order | undefined, checks: number, sinceCheck: number, serverNowMs: number): number {
  if (checks === 0) return 0;
  if (isFinal(o)) return Infinity;
  if (o && awaitingPayment(o)) {
    const due = engineMs(o.payment_due_at);
    if (due !== null && serverNowMs < due) return Math.max(0, Math.min(15_000, due - serverNowMs + 300) - sinceCheck);
    return Math.max(0, 2_000 - sinceCheck);
  }
  const step = Math.min(5_000, 500 * 1.5 ** Math.max(0, checks - 1));
  return Math.max(0, step - sinceCheck);
}

/**
 * Units this buyer already holds in a sale, by the orders on this device
 * (pending, confirmed and paid count toward the per-buyer limit; expired,
 * cancelled and void do not, nor an unpaid order past its deadline).
 */
export function unitsHeld(stored: StoredOrder[], details: Record<string, Order | undefined>, saleId: string, serverNowMs: number): number {
  let n = 0;
  for (const s of stored) {
    if (s.sale_id !== saleId) continue;
    const o = details[s.order_id];
    if (o) {
      if (o.status === 'expired' || o.status === 'cancelled' || o.status === 'void') continue;
      if (awaitingPayment(o)) {
        const due = engineMs(o.payment_due_at);
        if (due !== null && serverNowMs >= due) continue;
      }
    }
    n += o?.quantity ?? s.quantity;
  }
  return n;
}
