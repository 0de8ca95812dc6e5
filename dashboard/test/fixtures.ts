import type { Draw, LogEvent, Sale, SaleStats, Stats } from '../src/lib/types';

export const SALE_ID = '6f1c1d7e-0000-4000-8000-000000000001';

export function sale(over: Partial<Sale> = {}): Sale {
  return {
    id: SALE_ID,
    name: 'Drop',
    product: 'Shoe',
    price_cents: 1999,
    stock: 100,
    remaining: 30,
    sold: 70,
    per_user_limit: 2,
    starts_at: null,
    ends_at: null,
    status: 'active',
    created_at: '2025-01-01T00:00:00Z',
    payment_window_seconds: 0,
    prequeue_seconds: 0,
    fair_start_seconds: 0,
    stock_buckets: 1,
    ...over,
  };
}

export function saleStats(over: Partial<SaleStats> = {}): SaleStats {
  return {
    sale_id: 's1',
    name: 'Drop',
    status: 'active',
    stock: 100,
    remaining: 60,
    sold: 40,
    units_persisted: 35,
    orders_persisted: 35,
    in_flight: 5,
    units_awaiting_payment: 0,
    units_paid: 0,
    orders_by_status: { confirmed: 35, paid: 0, expired: 0, cancelled: 0 },
    ledger: { ok: true, difference: 0 },
    ...over,
  };
}

export function stats(over: Partial<Stats> = {}, sales: SaleStats[] = [saleStats()]): Stats {
  return {
    generated_at: '2025-01-01T00:00:00Z',
    mode: 'embedded',
    uptime_seconds: 12,
    totals: {
      stock: 100,
      remaining: 60,
      sold: 40,
      orders_persisted: 35,
      units_persisted: 35,
      in_flight: 5,
      queue_depth: 3,
      requests_per_second: 120,
      purchase_attempts_per_second: 100,
      accepted_per_second: 40,
      p99_latency_ms: 4.2,
      rejections: { sold_out: 10, limit_exceeded: 3 },
    },
    sales,
    ...over,
  };
}

/**
 * A sale with a payment window: of its 35 units stored, 20 await payment and
 * 15 are paid; 4 orders expired and 1 was cancelled (their units back on sale).
 */
export function checkoutSaleStats(over: Partial<SaleStats> = {}): SaleStats {
  return saleStats({
    sale_id: SALE_ID,
    units_awaiting_payment: 20,
    units_paid: 15,
    orders_by_status: { confirmed: 20, paid: 15, expired: 4, cancelled: 1 },
    ...over,
  });
}

/** The seed of a closed draw: 64 hex digits. */
export const DRAW_SEED = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

/** A fair start's draw, served: 2 entrants, both answered. */
export function draw(over: Partial<Draw> = {}): Draw {
  return { phase: 'served', entrants: 2, served: 2, seed: DRAW_SEED, ...over };
}

/** A sale with a fair start (5 s before the start, 3 s after), its draw served. */
export function fairStartSale(over: Partial<Sale> = {}): Sale {
  return sale({ starts_at: '2025-01-01T00:00:10Z', prequeue_seconds: 5, fair_start_seconds: 3, stock: 1, remaining: 0, sold: 1, per_user_limit: 1, status: 'sold_out', draw: draw(), ...over });
}

/** The stats of that sale: its draw with them. */
export function drawnSaleStats(over: Partial<SaleStats> = {}): SaleStats {
  return saleStats({ sale_id: SALE_ID, stock: 1, remaining: 0, sold: 1, units_persisted: 1, orders_persisted: 1, in_flight: 0, orders_by_status: { confirmed: 1, paid: 0, expired: 0, cancelled: 0 }, status: 'sold_out', draw: draw(), ...over });
}

let nextId = 1;
export function ev(over: Partial<LogEvent> = {}): LogEvent {
  const id = over.id ?? nextId++;
  return {
    id,
    at: `2025-01-01T00:00:${String(id % 60).padStart(2, '0')}Z`,
    kind: 'admin_action',
    severity: 'info',
    message: `event ${id}`,
    ...over,
  };
}
