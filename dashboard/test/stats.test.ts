import { describe, expect, it } from 'vitest';
import {
  HISTORY_MAX_POINTS,
  HISTORY_WINDOW_MS,
  initialStats,
  isStale,
  ledgerTerms,
  orderStatusRows,
  saleFigures,
  sortedRejections,
  statsReducer,
  STALE_AFTER_MS,
  totalFigures,
  type StatsState,
} from '../src/lib/stats';
import { niceStep, chartSpan } from '../src/components/Chart';
import { checkoutSaleStats, saleStats, stats } from './fixtures';

const at = (sec: number) => 1_000_000 + sec * 1000;
const sample = (sec: number, over = {}) => stats({ generated_at: new Date(at(sec)).toISOString(), ...over });

describe('statsReducer', () => {
  it('keeps the latest stats and adds a chart point per sample', () => {
    let s = statsReducer(initialStats, { type: 'stats', stats: sample(0), at: at(0) });
    s = statsReducer(s, { type: 'stats', stats: sample(1), at: at(1) });
    expect(s.latest?.generated_at).toBe(new Date(at(1)).toISOString());
    expect(s.receivedAt).toBe(at(1));
    expect(s.count).toBe(2);
    expect(s.history).toHaveLength(2);
    expect(s.history[1]).toMatchObject({ t: at(1), attempts: 100, accepted: 40, remaining: 60, bySale: { s1: 60 } });
  });

  it('does not add a point for a replayed sample (same generated_at) but refreshes receivedAt', () => {
    let s = statsReducer(initialStats, { type: 'stats', stats: sample(0), at: at(0) });
    s = statsReducer(s, { type: 'stats', stats: sample(0), at: at(2) });
    expect(s.history).toHaveLength(1);
    expect(s.receivedAt).toBe(at(2));
  });

  it('drops points older than the window and caps the count', () => {
    let s: StatsState = initialStats;
    const n = HISTORY_MAX_POINTS + 50;
    for (let i = 0; i < n; i++) s = statsReducer(s, { type: 'stats', stats: sample(i * 0.1), at: at(i * 0.1) });
    expect(s.history.length).toBeLessThanOrEqual(HISTORY_MAX_POINTS);
    s = statsReducer(s, { type: 'stats', stats: sample(10_000), at: at(10_000) });
    expect(s.history).toHaveLength(1);
    expect(s.history.every((p) => p.t >= at(10_000) - HISTORY_WINDOW_MS)).toBe(true);
  });

  it('ignores a malformed sample', () => {
    const s = statsReducer(initialStats, { type: 'stats', stats: {} as never, at: at(0) });
    expect(s).toBe(initialStats);
  });

  it('treats missing numbers as 0 instead of NaN', () => {
    const bad = stats();
    (bad.totals as unknown as Record<string, unknown>).purchase_attempts_per_second = null;
    const s = statsReducer(initialStats, { type: 'stats', stats: bad, at: at(0) });
    expect(s.history[0].attempts).toBe(0);
  });

  it('resets', () => {
    const s = statsReducer(initialStats, { type: 'stats', stats: sample(0), at: at(0) });
    expect(statsReducer(s, { type: 'reset' })).toEqual(initialStats);
  });
});

describe('staleness', () => {
  it('is stale with no stats, fresh after one, stale again after 4 s of silence', () => {
    expect(isStale(initialStats, at(0))).toBe(true);
    const s = statsReducer(initialStats, { type: 'stats', stats: sample(0), at: at(0) });
    expect(isStale(s, at(0) + STALE_AFTER_MS)).toBe(false);
    expect(isStale(s, at(0) + STALE_AFTER_MS + 1)).toBe(true);
  });
});

describe('figures and the ledger check', () => {
  it('reads the per-sale figures and the engine ledger', () => {
    const f = saleFigures(saleStats());
    expect(f).toMatchObject({ stock: 100, remaining: 60, sold: 40, ordersPersisted: 35, inFlight: 5, ledgerOk: true, ledgerDifference: 0 });
    const bad = saleFigures(saleStats({ ledger: { ok: false, difference: -2 } }));
    expect(bad.ledgerOk).toBe(false);
    expect(bad.ledgerDifference).toBe(-2);
  });

  it('computes the ledger when the engine does not send it', () => {
    const s = saleStats({ stock: 10, remaining: 3, units_persisted: 5, in_flight: 1 });
    delete (s as Partial<typeof s>).ledger;
    expect(saleFigures(s)).toMatchObject({ ledgerOk: false, ledgerDifference: 1 });
  });

  it('totals: ok only when every sale is ok, difference summed', () => {
    const st = stats({}, [saleStats(), saleStats({ sale_id: 's2', ledger: { ok: false, difference: 3 } })]);
    const t = totalFigures(st);
    expect(t.ledgerOk).toBe(false);
    expect(t.ledgerDifference).toBe(3);
    expect(t.remaining).toBe(60);
  });

  it('reads the checkout figures: units awaiting payment, paid, and orders by status', () => {
    const f = saleFigures(checkoutSaleStats());
    expect(f).toMatchObject({ unitsPersisted: 35, unitsAwaitingPayment: 20, unitsPaid: 15, unitsFinal: 0 });
    expect(f.ordersByStatus).toEqual({ confirmed: 20, paid: 15, expired: 4, cancelled: 1 });
    // a sale without a payment window: its stored orders are final
    expect(saleFigures(saleStats())).toMatchObject({ unitsAwaitingPayment: 0, unitsPaid: 0, unitsFinal: 35 });
  });

  it('reads a sample without the checkout figures as 0, every status present', () => {
    const s = saleStats();
    for (const k of ['units_awaiting_payment', 'units_paid', 'orders_by_status'] as const) delete (s as Partial<typeof s>)[k];
    const f = saleFigures(s);
    expect(f).toMatchObject({ unitsAwaitingPayment: 0, unitsPaid: 0, unitsFinal: 35 });
    expect(f.ordersByStatus).toEqual({ confirmed: 0, paid: 0, expired: 0, cancelled: 0 });
  });

  it('the ledger: stock = left + in flight + awaiting payment + paid (+ final orders of sales without a window)', () => {
    // the fallback when the engine sends no ledger counts the units persisted, which hold all three
    const s = checkoutSaleStats({ stock: 40, remaining: 3, in_flight: 2, units_persisted: 35, units_awaiting_payment: 20, units_paid: 15 });
    delete (s as Partial<typeof s>).ledger;
    expect(saleFigures(s)).toMatchObject({ ledgerOk: true, ledgerDifference: 0 });
    expect(ledgerTerms(saleFigures(checkoutSaleStats()))).toEqual([
      [60, 'left'],
      [5, 'in flight'],
      [20, 'awaiting payment'],
      [15, 'paid'],
    ]);
    // without checkout: the stored (final) orders
    expect(ledgerTerms(saleFigures(saleStats()))).toEqual([
      [60, 'left'],
      [5, 'in flight'],
      [35, 'stored'],
    ]);
    // both kinds of sale in the totals
    const both = stats({}, [checkoutSaleStats(), saleStats({ sale_id: 's2' })]);
    both.totals = { ...both.totals, units_persisted: 70 };
    expect(ledgerTerms(totalFigures(both))).toEqual([
      [60, 'left'],
      [5, 'in flight'],
      [20, 'awaiting payment'],
      [15, 'paid'],
      [35, 'stored'],
    ]);
  });

  it('totals: the checkout figures summed over the sales', () => {
    const st = stats({}, [checkoutSaleStats(), saleStats({ sale_id: 's2' }), checkoutSaleStats({ sale_id: 's3', units_awaiting_payment: 1, units_paid: 2, orders_by_status: { confirmed: 1, paid: 2, refunded: 1 } })]);
    const t = totalFigures(st);
    expect(t).toMatchObject({ unitsAwaitingPayment: 21, unitsPaid: 17 });
    expect(t.ordersByStatus).toEqual({ confirmed: 56, paid: 17, expired: 4, cancelled: 1, refunded: 1 });
    expect(totalFigures(stats({}, [])).ordersByStatus).toEqual({ confirmed: 0, paid: 0, expired: 0, cancelled: 0 });
  });

  it('orders by status: the four known statuses first, then any other', () => {
    const f = saleFigures(checkoutSaleStats({ orders_by_status: { zeta: 2, paid: 3, alpha: 1 } }));
    expect(orderStatusRows(f)).toEqual([
      ['confirmed', 0],
      ['paid', 3],
      ['expired', 0],
      ['cancelled', 0],
      ['alpha', 1],
      ['zeta', 2],
    ]);
    expect(orderStatusRows(null).map(([k]) => k)).toEqual(['confirmed', 'paid', 'expired', 'cancelled']);
  });

  it('sorts rejections by count', () => {
    expect(sortedRejections({ a: 1, sold_out: 10, b: 1 })).toEqual([
      ['sold_out', 10],
      ['a', 1],
      ['b', 1],
    ]);
    expect(sortedRejections(undefined)).toEqual([]);
  });
});

describe('chart scales', () => {
  it('picks round steps', () => {
    expect(niceStep(40, true)).toBe(10);
    expect(niceStep(45, true)).toBe(20);
    expect(niceStep(3, true)).toBe(1);
    expect(niceStep(0, true)).toBe(1);
    expect(niceStep(0)).toBe(1);
    expect(niceStep(200)).toBe(50);
    expect(niceStep(0.5)).toBe(0.2);
  });
  it('spans at least a minute, at most the window', () => {
    expect(chartSpan([])).toBe(60_000);
    expect(chartSpan([{ t: 0 }, { t: 90_000 }])).toBe(120_000);
    expect(chartSpan([{ t: 0 }, { t: 3_600_000 }])).toBe(HISTORY_WINDOW_MS);
  });
});
