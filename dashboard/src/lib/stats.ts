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

/** Figures for one sale, or for all sales when `saleId` is null. */
export interface Figures {
  stock: number;
  remaining: number;
  sold: number;
  ordersPersisted: number;
  unitsPersisted: number;
  inFlight: number;
  ledgerOk: boolean;
  ledgerDifference: number;
}

export function saleFigures(s: SaleStats): Figures {
  return {
    stock: num(s.stock),
    remaining: num(s.remaining),
    sold: num(s.sold),
    ordersPersisted: num(s.orders_persisted),
    unitsPersisted: num(s.units_persisted),
    inFlight: num(s.in_flight),
    ledgerOk: s.ledger ? !!s.ledger.ok : ledgerHolds(s),
    ledgerDifference: s.ledger ? num(s.ledger.difference) : ledgerDiff(s),
  };
}

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
  return {
    stock: num(t.stock),
    remaining: num(t.remaining),
    sold: num(t.sold),
    ordersPersisted: num(t.orders_persisted),
    unitsPersisted: num(t.units_persisted),
    inFlight: num(t.in_flight),
    ledgerOk,
    ledgerDifference,
  };
}

export function findSale(stats: Stats | null, saleId: string | null): SaleStats | undefined {
  if (!stats || !saleId) return undefined;
  return (stats.sales ?? []).find((s) => s.sale_id === saleId);
}

/** Rejection counts sorted by count (desc), then code. */
export function sortedRejections(r: Record<string, number> | undefined): [string, number][] {
  return Object.entries(r ?? {})
    .filter(([, n]) => typeof n === 'number')
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}
