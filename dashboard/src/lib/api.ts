import type { FlushResult, Health, NewSale, Sale, StampedeAccepted, StampedeRequest, Stats } from './types';
import { LIMITS } from './validation';

/** An error answered by the engine (`{"error":{"code","message"}}`) or a network failure. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Parses an error body of the contract; falls back to the HTTP status text. */
export async function errorFrom(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = `${res.status} ${res.statusText || 'error'}`.trim();
  try {
    const text = await res.text();
    if (text) {
      try {
        const body = JSON.parse(text);
        if (body && body.error) {
          if (typeof body.error.code === 'string') code = body.error.code;
          if (typeof body.error.message === 'string') message = body.error.message;
        }
      } catch {
        message = `${message}: ${text.slice(0, 200)}`;
      }
    }
  } catch {
    /* body unreadable: keep the status line */
  }
  return new ApiError(res.status, code, message);
}

type Unauthorized = () => void;

export interface RequestOptions {
  token?: string | null;
  body?: unknown;
  signal?: AbortSignal;
  /** Accept these non-2xx statuses as a valid answer (e.g. 503 for health). */
  acceptStatus?: number[];
}

export class Api {
  constructor(
    private readonly getToken: () => string | null,
    private readonly onUnauthorized: Unauthorized = () => {},
  ) {}

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = opts.token !== undefined ? opts.token : this.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
        signal: opts.signal,
        cache: 'no-store',
      });
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') throw e;
      throw new ApiError(0, 'network_error', 'Cannot reach the engine (network error).');
    }
    if (!res.ok && !(opts.acceptStatus ?? []).includes(res.status)) {
      const err = await errorFrom(res);
      if (res.status === 401 && path.startsWith('/api/admin') && opts.token === undefined) {
        this.onUnauthorized();
      }
      throw err;
    }
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /** One page of the listing, as large as the API allows (oldest first). */
  listSales(signal?: AbortSignal) {
    return this.request<Sale[]>('GET', `/api/sales?limit=${LIMITS.listing.max}`, { signal });
  }
  health(signal?: AbortSignal) {
    return this.request<Health>('GET', '/api/health', { signal, acceptStatus: [503] });
  }
  stats(token?: string) {
    return this.request<Stats>('GET', '/api/admin/stats', token !== undefined ? { token } : {});
  }
  createSale(body: NewSale) {
    return this.request<Sale>('POST', '/api/admin/sales', { body });
  }
  transition(id: string, action: 'start' | 'pause' | 'resume' | 'end') {
    return this.request<Sale>('POST', `/api/admin/sales/${encodeURIComponent(id)}/${action}`);
  }
  changeStock(id: string, add: number) {
    return this.request<Sale>('POST', `/api/admin/sales/${encodeURIComponent(id)}/stock`, { body: { add } });
  }
  flushCache() {
    return this.request<FlushResult>('POST', '/api/admin/cache/flush');
  }
  stampede(id: string, body: StampedeRequest) {
    return this.request<StampedeAccepted>('POST', `/api/admin/sales/${encodeURIComponent(id)}/stampede`, { body });
  }
}

export function eventsUrl(token: string): string {
  return `/api/admin/events?token=${encodeURIComponent(token)}`;
}
