// The sale page: the countdown on the engine's clock, Buy enabling at the
// start without a reload, one intent per click, the answer and the order.
import { describe, expect, it, vi } from 'vitest';
import { act, fireEvent, screen } from '@testing-library/react';
import { ordersKey } from '../../src/shop/lib/orders';
import { SALE_ID } from '../fixtures';
import { errorBody, fakeEngine, json, jwt, order } from './fakeEngine';
import { advance, answer, buy, HOUR, openSale, T0, usePhoneClock } from './salePageHarness';

usePhoneClock();

describe('before the start', () => {
  it("counts down on the engine's clock (FlashSale-Server-Time) and enables Buy at the start, without a reload", async () => {
    // the engine's clock is an hour ahead of the phone's; the sale starts 5 s from now, engine time
    const engine = fakeEngine({ status: 'scheduled', starts_at: new Date(T0 + HOUR + 5000).toISOString(), remaining: 2, stock: 2 }, HOUR);
    openSale();
    await advance();
    expect(screen.getByTestId('shop-main').dataset.clockOffset).toBe(String(HOUR));
    const cd = screen.getByTestId('countdown');
    expect(Number(cd.dataset.ms)).toBeGreaterThan(4500);
    expect(Number(cd.dataset.ms)).toBeLessThanOrEqual(5000);
    expect(cd.textContent).toContain('00:00:05');
    expect(cd.getAttribute('aria-label')).toBe('Starts in 5 seconds');
    expect(buy().disabled).toBe(true);
    expect(screen.getByTestId('buy-hint').textContent).toMatch(/opens when the countdown ends/);

    const requests = engine.sent.length;
    await advance(4000);
    expect(buy().disabled).toBe(true);
    expect(screen.getByTestId('countdown').textContent).toContain('00:00:01');
    await advance(1000);
    expect(buy().disabled).toBe(false);
    expect(screen.queryByTestId('countdown')).toBeNull();
    // no reload, no request: the page's own clock opened it (the stream still says "scheduled")
    expect(engine.sent.slice(requests).filter((r) => r.path.startsWith('/api/sales'))).toEqual([]);
    expect(screen.getByTestId('sale-status').dataset.phase).toBe('open');
  });

  it('enables Buy when the live feed says the sale started (started by hand, no start time)', async () => {
    const engine = fakeEngine({ status: 'scheduled', starts_at: null });
    openSale();
    await advance();
    expect(buy().disabled).toBe(true);
    expect(screen.getByTestId('buy-hint').textContent).toMatch(/when the shop starts this sale/);
    act(() => engine.stream()!.emit({ ...engine.sale, status: 'active' }));
    expect(buy().disabled).toBe(false);
    expect(screen.getByTestId('live-status').dataset.live).toBe('live');
    // and back when it is paused
    act(() => engine.stream()!.emit({ ...engine.sale, status: 'paused' }));
    expect(buy().disabled).toBe(true);
  });

  it('shows units left live from the stream', async () => {
    const engine = fakeEngine({ remaining: 30, stock: 100 });
    openSale();
    await advance();
    expect(screen.getByTestId('units-left').dataset.value).toBe('30');
    act(() => engine.stream()!.emit({ ...engine.sale, remaining: 0, sold: 100, status: 'sold_out' }));
    expect(screen.getByTestId('units-left').dataset.value).toBe('0');
    expect(screen.getByRole('meter', { name: 'Units left' }).getAttribute('aria-valuetext')).toBe('0 of 100 left');
    expect(screen.getByTestId('sale-status').textContent).toMatch(/Sold out/);
  });
});

describe('Buy', () => {
  it('one click is one intent: a double click sends one request, retries keep its key', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0); // no spread: retries exactly at Retry-After / the back-off
    const engine = fakeEngine({ payment_window_seconds: 120, per_user_limit: 2 });
    let release: (r: Response) => void = () => {};
    engine.purchases.push(
      () => errorBody(503, 'overloaded', { 'Retry-After': '2' }),
      () => 'network',
      () => new Promise<Response>((r) => (release = r)),
    );
    openSale();
    await advance();
    expect(buy().disabled).toBe(false);
    fireEvent.click(buy());
    fireEvent.click(buy());
    await advance();
    expect(engine.purchaseCalls()).toHaveLength(1);
    const key = engine.purchaseCalls()[0].headers['Idempotency-Key'];
    expect(key).toMatch(/^[0-9a-f-]{36}$/);
    expect(engine.purchaseCalls()[0].headers.Authorization).toMatch(/^Bearer ey/);
    expect(engine.purchaseCalls()[0].body).toEqual({ quantity: 1 });
    expect(buy().disabled).toBe(true);
    expect(buy().getAttribute('aria-busy')).toBe('true');
    expect(answer().dataset.phase).toBe('waiting');
    expect(answer().textContent).toMatch(/The shop is busy: trying again in 2 seconds with the same request/);

    // Retry-After: 2 → not before 2 s
    await advance(1900);
    expect(engine.purchaseCalls()).toHaveLength(1);
    fireEvent.click(buy());
    await advance(100);
    expect(engine.purchaseCalls()).toHaveLength(2);
    expect(answer().textContent).toMatch(/Connection lost: trying again/);
    await advance(800); // the back-off after a second attempt: 1 s, less the spread (20 %)
    expect(engine.purchaseCalls()).toHaveLength(3);
    expect(new Set(engine.purchaseCalls().map((c) => c.headers['Idempotency-Key']))).toEqual(new Set([key]));
    expect(buy().getAttribute('aria-busy')).toBe('true');

    engine.orders.set('order-7', order({ order_id: 'order-7', status: 'pending' }));
    release(json(202, { order_id: 'order-7', status: 'pending', remaining: 29 }, { 'Idempotent-Replayed': 'true' }));
    await advance();
    expect(buy().disabled).toBe(false);
    expect(buy().getAttribute('aria-busy')).toBe('false');
    expect(answer().dataset.orderId).toBe('order-7');
    expect(answer().dataset.replayed).toBe('true');
    expect(answer().textContent).toMatch(/Order order-7 is pending/);
    // kept on this device for this buyer
    expect(JSON.parse(localStorage.getItem(ordersKey('alice'))!)[0]).toMatchObject({ order_id: 'order-7', sale_id: SALE_ID, quantity: 1 });

    // followed until confirmed, then the payment step
    const due = new Date(T0 + 120_000).toISOString();
    engine.orders.set('order-7', order({ order_id: 'order-7', status: 'confirmed', payment_due_at: due }));
    await advance(2000);
    expect(answer().dataset.status).toBe('confirmed');
    expect(answer().textContent).toMatch(/Order order-7 is confirmed: pay by/);
    const left = Number(screen.getAllByTestId('pay-time-left')[0].dataset.ms);
    expect(left).toBeGreaterThan(100_000);
    expect(left).toBeLessThanOrEqual(120_000);
    fireEvent.click(screen.getAllByTestId('pay')[0]);
    await advance();
    expect(answer().dataset.status).toBe('paid');
    expect(answer().textContent).toMatch(/Order order-7 is paid/);
    expect(screen.queryByTestId('pay')).toBeNull();
    const row = screen.getAllByTestId('my-order')[0];
    expect(row.dataset.status).toBe('paid');
  });

  it('cancels an order awaiting payment after asking', async () => {
    const engine = fakeEngine({ payment_window_seconds: 60 });
    engine.orders.set('order-1', order({ status: 'confirmed', payment_due_at: new Date(T0 + 60_000).toISOString() }));
    openSale();
    await advance();
    fireEvent.click(buy());
    await advance(600);
    expect(answer().dataset.status).toBe('confirmed');
    fireEvent.click(screen.getAllByTestId('cancel')[0]);
    expect(engine.sent.some((s) => s.path.endsWith('/cancel'))).toBe(false);
    fireEvent.click(screen.getByTestId('cancel-confirm'));
    await advance();
    expect(answer().dataset.status).toBe('cancelled');
    expect(answer().textContent).toMatch(/cancelled: its units are back on sale/);
  });

  it('never shows more time to pay than the order was given, whatever the clock estimate', async () => {
    // The order was created 2 s "later" than the page's estimate of the
    // engine's clock says (an estimate is only good to within a round trip).
    const engine = fakeEngine({ payment_window_seconds: 60 });
    const created = T0 + 2000;
    engine.orders.set('order-1', order({ status: 'confirmed', created_at: new Date(created).toISOString(), payment_due_at: new Date(created + 60_000).toISOString() }));
    openSale();
    await advance();
    fireEvent.click(buy());
    await advance(600);
    expect(answer().dataset.status).toBe('confirmed');
    expect(Number(screen.getAllByTestId('pay-time-left')[0].dataset.ms)).toBe(60_000);
  });

  it('says why a purchase was refused, in words, in the live region', async () => {
    const engine = fakeEngine();
    engine.purchases.push(() => errorBody(409, 'sold_out'));
    openSale();
    await advance();
    const region = answer();
    expect(region.getAttribute('aria-live')).toBe('polite');
    fireEvent.click(buy());
    await advance();
    expect(answer()).toBe(region); // the same region, its text replaced: announced
    expect(region.dataset.code).toBe('sold_out');
    expect(region.textContent).toMatch(/Sold out: every unit has been sold/);
    expect(engine.purchaseCalls()).toHaveLength(1);
    // a new click is a new intent: a new key
    engine.purchases.push(() => errorBody(409, 'sale_not_active'));
    engine.sale = { ...engine.sale, status: 'paused' };
    act(() => engine.stream()!.emit({ ...engine.sale, status: 'active' }));
    fireEvent.click(buy());
    await advance();
    const [a, b] = engine.purchaseCalls();
    expect(a.headers['Idempotency-Key']).not.toBe(b.headers['Idempotency-Key']);
    expect(region.dataset.code).toBe('sale_not_active');
  });

  it("refuses locally when this buyer's orders already reach the limit", async () => {
    const engine = fakeEngine({ per_user_limit: 1 });
    engine.orders.set('order-1', order({ status: 'confirmed' }));
    localStorage.setItem(ordersKey('alice'), JSON.stringify([{ order_id: 'order-1', sale_id: SALE_ID, quantity: 1, placed_at: T0 }]));
    openSale();
    await advance();
    expect(screen.getByTestId('buy-hint').textContent).toMatch(/You have 1 of the 1 allowed/);
    fireEvent.click(buy());
    await advance();
    expect(engine.purchaseCalls()).toHaveLength(0);
    expect(answer().dataset.code).toBe('limit_exceeded');
    expect(answer().textContent).toMatch(/Limit reached: each buyer may buy at most 1 unit of this sale, and you already have 1 unit/);
  });

  it('lets the quantity go from 1 to the limit', async () => {
    const engine = fakeEngine({ per_user_limit: 3 });
    openSale();
    await advance();
    const qty = screen.getByTestId('quantity') as HTMLInputElement;
    expect(qty.value).toBe('1');
    expect((screen.getByTestId('qty-less') as HTMLButtonElement).disabled).toBe(true);
    for (let i = 0; i < 5; i++) fireEvent.click(screen.getByTestId('qty-more'));
    expect(qty.value).toBe('3');
    expect(buy().textContent).toBe('Buy 3 units');
    fireEvent.change(qty, { target: { value: '0' } });
    expect(qty.value).toBe('1');
    fireEvent.change(qty, { target: { value: '2' } });
    fireEvent.click(buy());
    await advance();
    expect(engine.purchaseCalls()[0].body).toEqual({ quantity: 2 });
  });

  it('asks to sign in before buying', async () => {
    fakeEngine();
    openSale(null);
    await advance();
    expect(buy().disabled).toBe(true);
    expect(screen.getByTestId('buy-hint').textContent).toBe('Sign in to buy.');
    fireEvent.change(screen.getByLabelText('Sign-in link or token'), { target: { value: `http://127.0.0.1:8080/shop/#token=${jwt('bob', Math.floor(T0 / 1000) + 60)}` } });
    fireEvent.click(screen.getByTestId('sign-in'));
    await advance();
    expect(screen.getByTestId('shop-buyer').dataset.buyer).toBe('bob');
    expect(buy().disabled).toBe(false);
  });
});
