import type { LogEvent, Sale, SaleStats, Stats } from '../src/lib/types';

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
