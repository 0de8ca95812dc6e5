import type { SaleStats, Stats } from './types';

/** One sample of the live chart. */
export interface Point {
  /** client time (ms) when the sample arrived */
  t: number;
  attempts: number;
  accepted: number;
  /** stock left, all sales */
  remaining: number;
  /** stock left per sale id */
  bySale: Record<string, number>;
}

export interface StatsState {
  latest: Stats | null;
  /** client time (ms) of the last stats message, 0 if none yet */
  receivedAt: number;
  history: Point[];
  /** number of stats messages taken in */
  count: number;
}

export const STALE_AFTER_MS = 4000;
export const HISTORY_WINDOW_MS = 5 * 60 * 1000;
export const HISTORY_MAX_POINTS = 600;

export const initialStats: StatsState = { latest: null, receivedAt: 0, history: [], count: 0 };

export type StatsAction =
  | { type: 'stats'; stats: Stats; at: number }
  | { type: 'reset' };

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** Keeps the latest stats and a bounded time series for the chart. */
export function statsReducer(state: StatsState, action: StatsAction): StatsState {
  switch (action.type) {
    case 'reset':
      return initialStats;
    case 'stats': {
      const s = action.stats;
      if (!s || typeof s !== 'object' || !s.totals) return state;
      const bySale: Record<string, number> = {};
      for (const sale of s.sales ?? []) bySale[sale.sale_id] = num(sale.remaining);
      const point: Point = {
        t: action.at,
        attempts: num(s.totals.purchase_attempts_per_second),
        accepted: num(s.totals.accepted_per_second),
        remaining: num(s.totals.remaining),
        bySale,
      };
      let history = state.history;
      // A replayed sample (same generated_at) refreshes the figures but adds no point.
      const duplicate = state.latest !== null && state.latest.generated_at === s.generated_at;
      if (!duplicate) {
        const cutoff = action.at - HISTORY_WINDOW_MS;
        history = history.filter((p) => p.t >= cutoff && p.t <= action.at);
        history.push(point);
        if (history.length > HISTORY_MAX_POINTS) history = history.slice(history.length - HISTORY_MAX_POINTS);
      }
      return { latest: s, receivedAt: action.at, history, count: state.count + 1 };
    }
    default:
      return state;
  }
}

export function isStale(state: StatsState, now: number): boolean {
  return state.receivedAt === 0 || now - state.receivedAt > STALE_AFTER_MS;
}

/**
 * The order statuses the stats count (`orders_by_status`), in the order shown:
 * `confirmed` (stored; awaiting payment on a sale with a payment window, final
 * without one), `paid`, `expired` (not paid in time) and `cancelled` (by the
 * buyer); the units of the last two are back on sale.
 */
export const ORDER_STATUSES = ['confirmed', 'paid', 'expired', 'cancelled'] as const;

/** Figures for one sale, or for all sales when `saleId` is null. */
export interface Figures {
  stock: number;
  remaining: number;
  sold: number;
  ordersPersisted: number;
  unitsPersisted: number;
  /** of the units persisted: stored, not paid yet, on a sale with a payment window */
  unitsAwaitingPayment: number;
  /** of the units persisted: paid */
  unitsPaid: number;
  /** of the units persisted: neither awaiting payment nor paid (final orders of sales without a payment window) */
  unitsFinal: number;
  /** orders in the store by status: `ORDER_STATUSES`, then any other the engine sends */
  ordersByStatus: Record<string, number>;
  inFlight: number;
  ledgerOk: boolean;
  ledgerDifference: number;
}

function byStatus(raw: Record<string, number> | undefined, into: Record<string, number> = {}): Record<string, number> {
  for (const k of ORDER_STATUSES) into[k] ??= 0;
  if (raw && typeof raw === 'object') for (const [k, n] of Object.entries(raw)) into[k] = (into[k] ?? 0) + num(n);
  return into;
}

export function saleFigures(s: SaleStats): Figures {
  const unitsPersisted = num(s.units_persisted);
  const unitsAwaitingPayment = num(s.units_awaiting_payment);
  const unitsPaid = num(s.units_paid);
  return {
    stock: num(s.stock),
    remaining: num(s.remaining),
    sold: num(s.sold),
    ordersPersisted: num(s.orders_persisted),
    unitsPersisted,
    unitsAwaitingPayment,
    unitsPaid,
    unitsFinal: unitsPersisted - unitsAwaitingPayment - unitsPaid,
    ordersByStatus: byStatus(s.orders_by_status),
    inFlight: num(s.in_flight),
    ledgerOk: s.ledger ? !!s.ledger.ok : ledgerHolds(s),
    ledgerDifference: s.ledger ? num(s.ledger.difference) : ledgerDiff(s),
  };
}

/**
 * stock - (remaining + in flight + units persisted), where the units persisted
 * are those awaiting payment + those paid + the final orders of sales without a
 * payment window: the engine's own check, for a sample without it.
 */
function ledgerDiff(s: SaleStats): number {
  return num(s.stock) - (num(s.remaining) + num(s.units_persisted) + num(s.in_flight));
}
function ledgerHolds(s: SaleStats): boolean {
  return ledgerDiff(s) === 0;
}

export function totalFigures(stats: Stats): Figures {
  const t = stats.totals;
  const sales = stats.sales ?? [];
  const ledgerOk = sales.every((s) => (s.ledger ? s.ledger.ok : ledgerHolds(s)));
  const ledgerDifference = sales.reduce((acc, s) => acc + (s.ledger ? num(s.ledger.difference) : ledgerDiff(s)), 0);
  // the totals do not carry the checkout figures: summed over the sales
  const unitsPersisted = num(t.units_persisted);
  const unitsAwaitingPayment = sales.reduce((acc, s) => acc + num(s.units_awaiting_payment), 0);
  const unitsPaid = sales.reduce((acc, s) => acc + num(s.units_paid), 0);
  const ordersByStatus: Record<string, number> = {};
  for (const s of sales) byStatus(s.orders_by_status, ordersByStatus);
  return {
    stock: num(t.stock),
    remaining: num(t.remaining),
    sold: num(t.sold),
    ordersPersisted: num(t.orders_persisted),
    unitsPersisted,
    unitsAwaitingPayment,
    unitsPaid,
    unitsFinal: unitsPersisted - unitsAwaitingPayment - unitsPaid,
    ordersByStatus: byStatus(undefined, ordersByStatus),
    inFlight: num(t.in_flight),
    ledgerOk,
    ledgerDifference,
  };
}

export function findSale(stats: Stats | null, saleId: string | null): SaleStats | undefined {
  if (!stats || !saleId) return undefined;
  return (stats.sales ?? []).find((s) => s.sale_id === saleId);
}

/**
 * The terms of the ledger check, as the engine counts them: stock = remaining
 * + in flight + units awaiting payment + units paid (+ the final orders of
 * sales without a payment window, "stored"). The checkout terms show once
 * there is checkout, the stored term whenever it is not 0 or there is no
 * checkout.
 */
export function ledgerTerms(f: Figures): [number, string][] {
  const terms: [number, string][] = [
    [f.remaining, 'left'],
    [f.inFlight, 'in flight'],
  ];
  const checkout = f.unitsAwaitingPayment !== 0 || f.unitsPaid !== 0;
  if (checkout) terms.push([f.unitsAwaitingPayment, 'awaiting payment'], [f.unitsPaid, 'paid']);
  if (!checkout || f.unitsFinal !== 0) terms.push([f.unitsFinal, 'stored']);
  return terms;
}

/** Order counts by status: `ORDER_STATUSES` first (0 when absent), then any other status alphabetically. */
export function orderStatusRows(f: Figures | null): [string, number][] {
  const counts = f?.ordersByStatus ?? {};
  const known: readonly string[] = ORDER_STATUSES;
  const others = Object.keys(counts)
    .filter((k) => !known.includes(k))
    .sort();
  return [...known, ...others].map((k) => [k, num(counts[k])]);
}

/** Rejection counts sorted by count (desc), then code. */
export function sortedRejections(r: Record<string, number> | undefined): [string, number][] {
  return Object.entries(r ?? {})
    .filter(([, n]) => typeof n === 'number')
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}
