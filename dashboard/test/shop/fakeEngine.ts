// A stand-in for the engine's buyer API in component tests: `fetch` and
// `EventSource` stubs, every request recorded.
import { vi } from 'vitest';
import type { Order, Sale } from '../../src/lib/types';
import { sale as baseSale } from '../fixtures';

export interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

type Reply = Response | 'network' | Promise<Response | 'network'>;
type Handler = (req: Sent) => Reply;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

export function errorBody(status: number, code: string, headers: Record<string, string> = {}): Response {
  return json(status, { error: { code, message: `${code} (engine message)` } }, headers);
}

/** A JWT as the engine mints them (the page never checks the signature). */
export function jwt(sub: string, expSeconds = Math.floor(Date.now() / 1000) + 3600): string {
  const b64 = (o: unknown) => btoa(JSON.stringify(o)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, iat: 0, exp: expSeconds })}.c2lnbmF0dXJl`;
}

export class FakeEventSource {
  static instances: FakeEventSource[] = [];
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSED = 2;
  readyState = 0;
  onerror: ((e: Event) => void) | null = null;
  onopen: ((e: Event) => void) | null = null;
  private listeners = new Map<string, ((e: MessageEvent) => void)[]>();
  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }
  addEventListener(type: string, fn: (e: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  removeEventListener() {}
  close() {
    this.readyState = 2;
  }
  /** the engine pushes a `sale` event */
  emit(sale: Sale) {
    this.readyState = 1;
    for (const fn of this.listeners.get('sale') ?? []) fn(new MessageEvent('sale', { data: JSON.stringify(sale) }));
  }
}

export interface FakeEngine {
  sent: Sent[];
  /** the engine's clock is this far ahead of the page's (ms) */
  offset: number;
  sale: Sale;
  orders: Map<string, Order>;
  /** answers POST /purchase, in turn; a 202 for order-1 when empty */
  purchases: Handler[];
  purchaseCalls: () => Sent[];
  stream: () => FakeEventSource | undefined;
}

/** Installs the stubs; the sale is `over` on the fixture's sale. */
export function fakeEngine(over: Partial<Sale> = {}, offset = 0): FakeEngine {
  const engine: FakeEngine = {
    sent: [],
    offset,
    sale: baseSale(over),
    orders: new Map(),
    purchases: [],
    purchaseCalls: () => engine.sent.filter((s) => s.path.endsWith('/purchase')),
    stream: () => FakeEventSource.instances.at(-1),
  };
  FakeEventSource.instances = [];
  const serverTime = () => ({ 'FlashSale-Server-Time': String(Date.now() + engine.offset) });
  const fetchStub = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://shop.test');
    const req: Sent = {
      method: init.method ?? 'GET',
      path: url.pathname,
      headers: { ...(init.headers as Record<string, string>) },
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    engine.sent.push(req);
    const p = url.pathname;
    let reply: Reply;
    if (p === '/api/health') reply = json(200, { status: 'ok', mode: 'embedded', components: { payments: { status: 'ok', detail: 'simulated (webhook off)' } } });
    else if (p === '/api/sales') reply = json(200, [engine.sale], serverTime());
    else if (p === `/api/sales/${engine.sale.id}`) reply = json(200, engine.sale, serverTime());
    else if (p.startsWith('/api/sales/') && !p.endsWith('/purchase')) reply = errorBody(404, 'sale_not_found');
    else if (p.endsWith('/purchase')) {
      const next = engine.purchases.shift();
      reply = next ? next(req) : json(202, { order_id: 'order-1', status: 'pending', remaining: engine.sale.remaining - 1 });
    } else if (p.startsWith('/api/orders/')) {
      const [, , , id, action] = p.split('/');
      const o = engine.orders.get(id);
      if (!o) reply = errorBody(404, 'order_not_found');
      else if (action === 'pay') {
        const paid = { ...o, status: 'paid', paid_at: new Date().toISOString() };
        engine.orders.set(id, paid);
        reply = json(200, paid);
      } else if (action === 'cancel') {
        const c = { ...o, status: 'cancelled' };
        engine.orders.set(id, c);
        reply = json(200, c);
      } else reply = json(200, o);
    } else reply = errorBody(404, 'not_found');
    const r = await reply;
    if (r === 'network') throw new TypeError('Failed to fetch');
    return r;
  });
  vi.stubGlobal('fetch', fetchStub);
  vi.stubGlobal('EventSource', FakeEventSource);
  return engine;
}

export function order(over: Partial<Order> = {}): Order {
  return {
    order_id: 'order-1',
    sale_id: baseSale().id,
    user_id: 'alice',
    quantity: 1,
    status: 'pending',
    created_at: new Date().toISOString(),
    ...over,
  };
}
