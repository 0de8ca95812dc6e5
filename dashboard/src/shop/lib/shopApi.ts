// The buyers' side of the engine's HTTP API. Errors are the dashboard's
// `ApiError` (lib/api.ts); a purchase never throws: its outcome is data, for
// the intent's retry logic (intent.ts).
import { ApiError, errorFrom } from '../../lib/api';
import { LIMITS } from '../../lib/validation';
import type { Health, Order, PurchaseAccepted, Sale } from '../../lib/types';
import { parseServerTime, SERVER_TIME_HEADER, type ClockSample } from './clock';

/** What one purchase request came back with. */
export type PurchaseOutcome =
  | { kind: 'accepted'; accepted: PurchaseAccepted; replayed: boolean }
  | { kind: 'error'; status: number; code: string; message: string; retryAfter: string | null }
  | { kind: 'network'; message: string };

export interface ShopApiOptions {
  /** the buyer's JWT at call time (null: signed out) */
  getToken: () => string | null;
  /** every answer carrying the engine's clock */
  onClock?: (sample: ClockSample) => void;
  /** a buyer call answered 401: the token is no longer accepted */
  onUnauthorized?: () => void;
  /** a request without an answer after this long is given up (then retried by its caller) */
  timeoutMs?: number;
  now?: () => number;
}

const REQUEST_TIMEOUT_MS = 10_000;

export class ShopApi {
  private readonly opts: Required<Omit<ShopApiOptions, 'onClock' | 'onUnauthorized'>> & Pick<ShopApiOptions, 'onClock' | 'onUnauthorized'>;

  constructor(opts: ShopApiOptions) {
    this.opts = { timeoutMs: REQUEST_TIMEOUT_MS, now: () => Date.now(), ...opts };
  }

  /** One request: the answer, with its clock sample taken. Throws ApiError(0, 'network_error') when none came. */
  private async send(method: string, path: string, init: { body?: unknown; headers?: Record<string, string>; auth?: boolean; signal?: AbortSignal; timeoutMs?: number } = {}) {
    const headers: Record<string, string> = { Accept: 'application/json', ...init.headers };
    if (init.auth) {
      const token = this.opts.getToken();
      if (token) headers.Authorization = `Bearer ${token}`;
    }
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), init.timeoutMs ?? this.opts.timeoutMs);
    const onAbort = () => timeout.abort();
    init.signal?.addEventListener('abort', onAbort);
    const sentAt = this.opts.now();
    try {
      const res = await fetch(path, {
        method,
        headers,
        body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
        signal: timeout.signal,
        cache: 'no-store',
      });
      const serverMs = parseServerTime(res.headers.get(SERVER_TIME_HEADER));
      if (serverMs !== null) this.opts.onClock?.({ serverMs, sentAt, receivedAt: this.opts.now() });
      if (res.status === 401 && init.auth) this.opts.onUnauthorized?.();
      return res;
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new ApiError(0, 'network_error', 'Cannot reach the shop (network error).');
    } finally {
      clearTimeout(timer);
      init.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async json<T>(method: string, path: string, init: Parameters<ShopApi['send']>[2] = {}, acceptStatus: number[] = []): Promise<T> {
    const res = await this.send(method, path, init);
    if (!res.ok && !acceptStatus.includes(res.status)) throw await errorFrom(res);
    try {
      return (await res.json()) as T;
    } catch {
      throw new ApiError(res.status, 'invalid_answer', 'The shop sent an answer this page cannot read.');
    }
  }

  listSales() {
    return this.json<Sale[]>('GET', `/api/sales?limit=${LIMITS.listing.max}`);
  }
  sale(id: string) {
    return this.json<Sale>('GET', `/api/sales/${encodeURIComponent(id)}`);
  }
  health() {
    return this.json<Health>('GET', '/api/health', {}, [503]);
  }
  order(id: string) {
    return this.json<Order>('GET', `/api/orders/${encodeURIComponent(id)}`, { auth: true });
  }
  pay(id: string) {
    return this.json<Order>('POST', `/api/orders/${encodeURIComponent(id)}/pay`, { auth: true });
  }
  cancel(id: string) {
    return this.json<Order>('POST', `/api/orders/${encodeURIComponent(id)}/cancel`, { auth: true });
  }

  /**
   * One attempt of a purchase intent: always the intent's key, never throws
   * (but on abort). `timeoutMs`: how long to wait for the answer (a draw
   * entry's request is held until its window closes).
   */
  async purchase(saleId: string, quantity: number, idempotencyKey: string, signal?: AbortSignal, timeoutMs?: number): Promise<PurchaseOutcome> {
    let res: Response;
    try {
      res = await this.send('POST', `/api/sales/${encodeURIComponent(saleId)}/purchase`, {
        auth: true,
        body: { quantity },
        headers: { 'Idempotency-Key': idempotencyKey },
        signal,
        timeoutMs,
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      return { kind: 'network', message: (e as Error)?.message || 'network error' };
    }
    if (res.status === 202) {
      try {
        const accepted = (await res.json()) as PurchaseAccepted;
        if (accepted && typeof accepted.order_id === 'string') {
          return { kind: 'accepted', accepted, replayed: res.headers.get('Idempotent-Replayed') === 'true' };
        }
      } catch {
        /* the answer was cut: as good as none, retried with the same key */
      }
      return { kind: 'network', message: 'the answer was cut short' };
    }
    const err = await errorFrom(res);
    return { kind: 'error', status: res.status, code: err.code, message: err.message, retryAfter: res.headers.get('Retry-After') };
  }
}

/** The live figures of a sale: its event stream (`sale` events). */
export function liveUrl(saleId: string): string {
  return `/api/sales/${encodeURIComponent(saleId)}/live`;
}
