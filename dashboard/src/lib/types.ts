// Shapes of the engine's HTTP contract (see shared DESIGN.md, "HTTP contract").

export type SaleStatus = 'scheduled' | 'active' | 'paused' | 'ended' | 'sold_out';

export interface Sale {
  id: string;
  name: string;
  product: string;
  price_cents: number;
  stock: number;
  remaining: number;
  sold: number;
  per_user_limit: number;
  starts_at: string | null;
  ends_at: string | null;
  status: SaleStatus;
  created_at: string;
}

export interface Ledger {
  ok: boolean;
  difference: number;
}

export interface SaleStats {
  sale_id: string;
  name: string;
  status: SaleStatus;
  stock: number;
  remaining: number;
  sold: number;
  units_persisted: number;
  orders_persisted: number;
  in_flight: number;
  ledger: Ledger;
}

export interface Totals {
  stock: number;
  remaining: number;
  sold: number;
  orders_persisted: number;
  units_persisted: number;
  in_flight: number;
  queue_depth: number;
  requests_per_second: number;
  purchase_attempts_per_second: number;
  accepted_per_second: number;
  p99_latency_ms: number;
  rejections: Record<string, number>;
}

export interface Stats {
  generated_at: string;
  mode: 'embedded' | 'stack' | string;
  uptime_seconds: number;
  totals: Totals;
  sales: SaleStats[];
}

export type LogKind =
  | 'rate_limited'
  | 'auth_failure'
  | 'limit_abuse'
  | 'admin_action'
  | 'sale_state'
  | 'stock_changed'
  | 'sold_out'
  | 'stampede'
  | 'system';

export type Severity = 'info' | 'warning' | 'critical';

export interface LogEvent {
  id: number;
  at: string;
  kind: LogKind | string;
  severity: Severity | string;
  message: string;
  sale_id?: string;
}

export type ComponentStatus = 'ok' | 'degraded' | 'down' | string;

export interface Health {
  status: 'ok' | 'degraded' | string;
  mode?: string;
  components: Record<string, { status: ComponentStatus; detail: string }>;
}

export interface NewSale {
  name: string;
  product: string;
  price_cents: number;
  stock: number;
  per_user_limit: number;
  starts_at?: string;
  ends_at?: string;
}

export interface StampedeRequest {
  buyers: number;
  attempts_per_buyer?: number;
  quantity?: number;
}

export interface StampedeAccepted {
  sale_id: string;
  buyers: number;
  attempts_per_buyer: number;
}
