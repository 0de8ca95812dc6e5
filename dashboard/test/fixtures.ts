import type { LogEvent, SaleStats, Stats } from '../src/lib/types';

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
