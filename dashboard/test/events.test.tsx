import { useReducer } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { FEED_CAP, feedReducer, initialFeed, KIND_LABELS, KINDS, mergeEvents, visibleEvents, type FeedAction, type FeedState } from '../src/lib/events';
import { EventLog } from '../src/components/EventLog';
import { ev } from './fixtures';

afterEach(cleanup);

describe('feedReducer', () => {
  it('keeps events newest first without duplicates (a reconnect replays the recent ones)', () => {
    let s = initialFeed();
    s = feedReducer(s, { type: 'events', events: [ev({ id: 1 }), ev({ id: 2 })] });
    s = feedReducer(s, { type: 'events', events: [ev({ id: 1 }), ev({ id: 2 }), ev({ id: 3 })] });
    expect(s.items.map((e) => e.id)).toEqual([3, 2, 1]);
  });

  it('caps the length, dropping the oldest', () => {
    let s = initialFeed(5);
    for (let i = 1; i <= 12; i++) s = feedReducer(s, { type: 'events', events: [ev({ id: 100 + i })] });
    expect(s.items).toHaveLength(5);
    expect(s.items.map((e) => e.id)).toEqual([112, 111, 110, 109, 108]);
    const big = Array.from({ length: FEED_CAP + 100 }, (_, i) => ev({ id: 1000 + i }));
    expect(feedReducer(initialFeed(), { type: 'events', events: big }).items).toHaveLength(FEED_CAP);
  });

  it('holds events while paused and shows them on resume', () => {
    let s = feedReducer(initialFeed(), { type: 'events', events: [ev({ id: 201 })] });
    s = feedReducer(s, { type: 'pause' });
    s = feedReducer(s, { type: 'events', events: [ev({ id: 202 }), ev({ id: 203 })] });
    expect(s.items.map((e) => e.id)).toEqual([201]);
    expect(s.pending.map((e) => e.id)).toEqual([203, 202]);
    // a replay of a shown event is not counted as new
    s = feedReducer(s, { type: 'events', events: [ev({ id: 201 })] });
    expect(s.pending).toHaveLength(2);
    s = feedReducer(s, { type: 'resume' });
    expect(s.paused).toBe(false);
    expect(s.pending).toEqual([]);
    expect(s.items.map((e) => e.id)).toEqual([203, 202, 201]);
  });

  it('the pending list is capped too', () => {
    let s = feedReducer(initialFeed(3), { type: 'pause' });
    s = feedReducer(s, { type: 'events', events: [1, 2, 3, 4, 5].map((i) => ev({ id: 300 + i })) });
    expect(s.pending).toHaveLength(3);
    s = feedReducer(s, { type: 'resume' });
    expect(s.items.map((e) => e.id)).toEqual([305, 304, 303]);
  });

  it('filters by kind', () => {
    let s = feedReducer(initialFeed(), {
      type: 'events',
      events: [ev({ id: 401, kind: 'sold_out' }), ev({ id: 402, kind: 'rate_limited' }), ev({ id: 403, kind: 'auth_failure' })],
    });
    s = feedReducer(s, { type: 'toggleKind', kind: 'rate_limited' });
    expect(visibleEvents(s).map((e) => e.id)).toEqual([403, 401]);
    s = feedReducer(s, { type: 'toggleKind', kind: 'rate_limited' });
    expect(visibleEvents(s)).toHaveLength(3);
    s = feedReducer(s, { type: 'only', kind: 'sold_out' });
    expect(visibleEvents(s).map((e) => e.id)).toEqual([401]);
    s = feedReducer(s, { type: 'showAll' });
    expect(visibleEvents(s)).toHaveLength(3);
  });

  it('ignores malformed events', () => {
    const s = feedReducer(initialFeed(), { type: 'events', events: [{} as never, null as never, ev({ id: 501 })] });
    expect(s.items.map((e) => e.id)).toEqual([501]);
    expect(mergeEvents(s.items, [], 10)).toBe(s.items);
  });

  it('clears', () => {
    const s = feedReducer(initialFeed(), { type: 'events', events: [ev({ id: 601 })] });
    expect(feedReducer(s, { type: 'clear' }).items).toEqual([]);
  });
});

function Harness({ initial, onDispatch }: { initial: FeedState; onDispatch?: (d: (a: FeedAction) => void) => void }) {
  const [feed, dispatch] = useReducer(feedReducer, initial);
  onDispatch?.(dispatch);
  return <EventLog feed={feed} dispatch={dispatch} sales={[]} />;
}

describe('<EventLog>', () => {
  const events = [
    ev({ id: 701, kind: 'sold_out', severity: 'critical', message: 'Drop sold out' }),
    ev({ id: 702, kind: 'rate_limited', severity: 'warning', message: 'ip 10.0.0.1 throttled' }),
    ev({ id: 703, kind: 'auth_failure', severity: 'warning', message: 'bad admin token' }),
  ];
  const start = () => feedReducer(initialFeed(), { type: 'events', events });

  it('shows time, severity, kind and message, newest first', () => {
    render(<Harness initial={start()} />);
    const items = screen.getAllByTestId('feed-item');
    expect(items.map((li) => li.dataset.kind)).toEqual(['auth_failure', 'rate_limited', 'sold_out']);
    const sold = items[2];
    expect(within(sold).getByText('critical')).toBeTruthy();
    expect(within(sold).getByText('Drop sold out')).toBeTruthy();
    expect(sold.querySelector('time')?.getAttribute('datetime')).toBe(events[0].at);
  });

  it('filters by kind with the chips (aria-pressed)', () => {
    render(<Harness initial={start()} />);
    const chip = screen.getByTestId('filter-rate_limited');
    expect(chip.getAttribute('aria-pressed')).toBe('true');
    fireEvent.click(chip);
    expect(chip.getAttribute('aria-pressed')).toBe('false');
    expect(screen.getAllByTestId('feed-item').map((li) => li.dataset.kind)).toEqual(['auth_failure', 'sold_out']);
    expect(screen.getByText(/1 hidden by the filter/)).toBeTruthy();
    fireEvent.click(screen.getByTestId('filter-all'));
    expect(screen.getAllByTestId('feed-item')).toHaveLength(3);
  });

  it('pauses: new events are counted, not shown, until resumed', () => {
    let dispatch!: (a: FeedAction) => void;
    render(<Harness initial={start()} onDispatch={(d) => (dispatch = d)} />);
    const pause = screen.getByTestId('feed-pause');
    fireEvent.click(pause);
    expect(pause.getAttribute('aria-pressed')).toBe('true');
    act(() => dispatch({ type: 'events', events: [ev({ id: 704, message: 'new one' }), ev({ id: 705 })] }));
    expect(screen.getAllByTestId('feed-item')).toHaveLength(3);
    expect(screen.getByTestId('feed-pending').textContent).toMatch(/2 new/);
    fireEvent.click(pause);
    expect(screen.getAllByTestId('feed-item')).toHaveLength(5);
    expect(screen.getByText('new one')).toBeTruthy();
    expect(screen.queryByTestId('feed-pending')).toBeNull();
  });

  it('checkout: expiries and late payments have their chip and label; a late payment is highlighted as critical', () => {
    expect(KINDS).toContain('checkout');
    expect(KIND_LABELS.checkout).toBe('Checkout');
    const checkout = [
      ev({ id: 901, kind: 'checkout', severity: 'info', message: '2 orders expired: 3 units back on sale', sale_id: 's1' }),
      ev({ id: 902, kind: 'checkout', severity: 'critical', message: 'payment of expired order 42 received: refund it', sale_id: 's1' }),
    ];
    render(<Harness initial={feedReducer(start(), { type: 'events', events: checkout })} />);
    const chip = screen.getByTestId('filter-checkout');
    expect(chip.textContent).toBe('Checkout2');
    const items = screen.getAllByTestId('feed-item').filter((li) => li.dataset.kind === 'checkout');
    expect(items.map((li) => [li.dataset.severity, li.className])).toEqual([
      ['critical', 'sev-critical'],
      ['info', 'sev-info'],
    ]);
    expect(within(items[0]).getByText('Checkout')).toBeTruthy();
    expect(within(items[0]).getByText(/refund/)).toBeTruthy();
    // hidden and shown again by its chip; double-click shows only checkout events
    fireEvent.click(chip);
    expect(screen.getAllByTestId('feed-item').some((li) => li.dataset.kind === 'checkout')).toBe(false);
    fireEvent.doubleClick(chip);
    expect(screen.getAllByTestId('feed-item').map((li) => li.dataset.kind)).toEqual(['checkout', 'checkout']);
  });

  it('renders at most the cap', () => {
    const many = Array.from({ length: 30 }, (_, i) => ev({ id: 800 + i }));
    render(<Harness initial={feedReducer(initialFeed(10), { type: 'events', events: many })} />);
    expect(screen.getAllByTestId('feed-item')).toHaveLength(10);
    expect(screen.getByText(/10 kept \(last 10\)/)).toBeTruthy();
  });
});
