import type { LogEvent } from './types';

export const FEED_CAP = 500;

export const KINDS = [
  'rate_limited',
  'auth_failure',
  'limit_abuse',
  'admin_action',
  'sale_state',
  'stock_changed',
  'sold_out',
  'checkout',
  'stampede',
  'system',
] as const;

export const KIND_LABELS: Record<string, string> = {
  rate_limited: 'Rate limit',
  auth_failure: 'Auth failure',
  limit_abuse: 'Limit abuse',
  admin_action: 'Admin',
  sale_state: 'Sale state',
  stock_changed: 'Stock',
  sold_out: 'Sold out',
  // orders expired with their units back on sale; a payment after expiry (critical: refund it)
  checkout: 'Checkout',
  stampede: 'Stampede',
  system: 'System',
};

export interface FeedState {
  /** newest first, at most `cap` */
  items: LogEvent[];
  /** events that arrived while paused, newest first */
  pending: LogEvent[];
  paused: boolean;
  /** kinds hidden by the filter */
  hidden: string[];
  cap: number;
}

export function initialFeed(cap = FEED_CAP): FeedState {
  return { items: [], pending: [], paused: false, hidden: [], cap };
}

export type FeedAction =
  | { type: 'events'; events: LogEvent[] }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'toggleKind'; kind: string }
  | { type: 'showAll' }
  | { type: 'only'; kind: string }
  | { type: 'clear' };

const key = (e: LogEvent) => `${e.id}|${e.at}`;

function isEvent(e: unknown): e is LogEvent {
  const x = e as LogEvent;
  return !!x && typeof x === 'object' && typeof x.id === 'number' && typeof x.message === 'string';
}

/** Merges new events (any order) into a newest-first list without duplicates, capped. */
export function mergeEvents(list: LogEvent[], incoming: LogEvent[], cap: number): LogEvent[] {
  const fresh = incoming.filter(isEvent);
  if (fresh.length === 0) return list;
  const seen = new Set(list.map(key));
  const add: LogEvent[] = [];
  for (const e of fresh) {
    const k = key(e);
    if (seen.has(k)) continue;
    seen.add(k);
    add.push(e);
  }
  if (add.length === 0) return list;
  const merged = add.concat(list);
  merged.sort((a, b) => b.id - a.id || (b.at < a.at ? -1 : b.at > a.at ? 1 : 0));
  return merged.length > cap ? merged.slice(0, cap) : merged;
}

export function feedReducer(state: FeedState, action: FeedAction): FeedState {
  switch (action.type) {
    case 'events':
      if (state.paused) {
        // keep what is already shown out of the pending list
        const shown = new Set(state.items.map(key));
        const novel = action.events.filter((e) => isEvent(e) && !shown.has(key(e)));
        const pending = mergeEvents(state.pending, novel, state.cap);
        return pending === state.pending ? state : { ...state, pending };
      } else {
        const items = mergeEvents(state.items, action.events, state.cap);
        return items === state.items ? state : { ...state, items };
      }
    case 'pause':
      return state.paused ? state : { ...state, paused: true };
    case 'resume':
      return {
        ...state,
        paused: false,
        pending: [],
        items: mergeEvents(state.items, state.pending, state.cap),
      };
    case 'toggleKind':
      return {
        ...state,
        hidden: state.hidden.includes(action.kind)
          ? state.hidden.filter((k) => k !== action.kind)
          : [...state.hidden, action.kind],
      };
    case 'only':
      return { ...state, hidden: KINDS.filter((k) => k !== action.kind) };
    case 'showAll':
      return { ...state, hidden: [] };
    case 'clear':
      return { ...state, items: [], pending: [] };
    default:
      return state;
  }
}

export function visibleEvents(state: FeedState): LogEvent[] {
  if (state.hidden.length === 0) return state.items;
  const hidden = new Set(state.hidden);
  return state.items.filter((e) => !hidden.has(e.kind));
}
