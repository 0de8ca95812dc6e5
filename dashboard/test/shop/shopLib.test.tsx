// The shop's plumbing: sign-in from the link, orders kept per buyer and how
// often they are asked about, routes, the sale list, payments detection.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, render, screen } from '@testing-library/react';
import { BUYER_TOKEN_KEY, decodeBuyer, takeBuyerTokenFromFragment, tokenFromPaste, tokenProblem } from '../../src/shop/lib/token';
import { loadOrders, nextCheckIn, ordersKey, saveOrders, unitsHeld, withOrder, type StoredOrder } from '../../src/shop/lib/orders';
import { parseRoute, saleHref } from '../../src/shop/lib/route';
import { shopSales } from '../../src/shop/hooks/useSaleList';
import { paymentsAreSimulated } from '../../src/shop/hooks/usePayments';
import { ShopApp } from '../../src/shop/ShopApp';
import { sale } from '../fixtures';
import { errorBody, fakeEngine, jwt, order } from './fakeEngine';

beforeEach(() => {
  sessionStorage.clear();
  localStorage.clear();
  window.history.replaceState(null, '', '/shop/');
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('buyer sign-in', () => {
  it('takes #token= into sessionStorage and out of the address bar', () => {
    const t = jwt('alice');
    window.history.replaceState(null, '', `/shop/sale/abc#token=${t}`);
    expect(takeBuyerTokenFromFragment()).toBe(t);
    expect(sessionStorage.getItem(BUYER_TOKEN_KEY)).toBe(t);
    expect(window.location.hash).toBe('');
    expect(window.location.pathname).toBe('/shop/sale/abc');
    expect(localStorage.length).toBe(0);
  });

  it('reads who is signed in from the payload, without verifying it', () => {
    expect(decodeBuyer(jwt('bob', 2_000_000_000))).toMatchObject({ id: 'bob', expiresAt: 2_000_000_000_000 });
    expect(decodeBuyer('not.a.jwt')).toBeNull();
    expect(decodeBuyer('abc')).toBeNull();
    expect(tokenProblem('abc')).toMatch(/not a buyer sign-in token/);
    expect(tokenProblem(jwt('bob', 10))).toBeNull(); // expiry: the engine's call (the phone's clock may be off)
  });

  it('accepts the token or the whole link in the paste box', () => {
    expect(tokenFromPaste('  http://127.0.0.1:8080/shop/#token=ey.x.y ')).toBe('ey.x.y');
    expect(tokenFromPaste('Bearer ey.x.y')).toBe('ey.x.y');
    expect(tokenFromPaste('ey.x.y')).toBe('ey.x.y');
  });

  it('shows the buyer of the link in the page', async () => {
    fakeEngine();
    window.history.replaceState(null, '', `/shop/#token=${jwt('carol')}`);
    render(<ShopApp />);
    expect(screen.getByTestId('shop-buyer').dataset.buyer).toBe('carol');
    expect(window.location.hash).toBe('');
    await act(async () => {});
    act(() => screen.getByTestId('sign-out').click());
    expect(screen.queryByTestId('shop-buyer')).toBeNull();
    expect(sessionStorage.getItem(BUYER_TOKEN_KEY)).toBeNull();
  });

  it('refuses what is no buyer token with a reason', () => {
    fakeEngine();
    window.history.replaceState(null, '', '/shop/#token=admin-token-by-mistake');
    render(<ShopApp />);
    expect(screen.queryByTestId('shop-buyer')).toBeNull();
    expect(screen.getByTestId('signin-error').textContent).toMatch(/not a buyer sign-in token/);
    expect(sessionStorage.getItem(BUYER_TOKEN_KEY)).toBeNull();
  });

  it('signs out, saying why, when the engine refuses the token (expired)', async () => {
    const engine = fakeEngine();
    engine.purchases.push(() => errorBody(401, 'unauthorized'));
    sessionStorage.setItem(BUYER_TOKEN_KEY, jwt('carol', 1));
    window.history.replaceState(null, '', `/shop/sale/${engine.sale.id}`);
    render(<ShopApp />);
    expect(screen.getByTestId('shop-buyer').dataset.buyer).toBe('carol');
    await act(async () => {});
    act(() => screen.getByTestId('buy').click());
    await act(async () => {});
    expect(screen.queryByTestId('shop-buyer')).toBeNull();
    expect(sessionStorage.getItem(BUYER_TOKEN_KEY)).toBeNull();
    expect(screen.getByTestId('signin-error').textContent).toMatch(/no longer accepted/);
    expect(screen.getByTestId('answer').dataset.code).toBe('unauthorized');
  });
});

describe('orders on this device', () => {
  const s = (id: string, sale_id = 'S', quantity = 1): StoredOrder => ({ order_id: id, sale_id, quantity, placed_at: 0 });

  it('are kept per buyer, newest first, once each', () => {
    let list = withOrder([], s('a'));
    list = withOrder(list, s('b'));
    list = withOrder(list, s('a'));
    expect(list.map((o) => o.order_id)).toEqual(['b', 'a']);
    saveOrders('alice', list);
    expect(loadOrders('alice').map((o) => o.order_id)).toEqual(['b', 'a']);
    expect(loadOrders('bob')).toEqual([]);
    expect(localStorage.getItem(ordersKey('alice'))).toContain('"b"');
    localStorage.setItem(ordersKey('eve'), '{not json');
    expect(loadOrders('eve')).toEqual([]);
  });

  it('are asked about with back-off while pending, and no more once settled', () => {
    expect(nextCheckIn(undefined, 0, 0, 0)).toBe(0);
    expect([1, 2, 3, 4, 5, 6, 10].map((n) => nextCheckIn(order({ status: 'pending' }), n, 0, 0))).toEqual([500, 750, 1125, 1687.5, 2531.25, 3796.875, 5000]);
    expect(nextCheckIn(order({ status: 'pending' }), 1, 200, 0)).toBe(300);
    for (const status of ['paid', 'expired', 'cancelled', 'void']) expect(nextCheckIn(order({ status }), 3, 0, 0)).toBe(Infinity);
    expect(nextCheckIn(order({ status: 'confirmed' }), 3, 0, 0)).toBe(Infinity); // no payment window: final
    const due = order({ status: 'confirmed', payment_due_at: new Date(100_000).toISOString() });
    expect(nextCheckIn(due, 3, 0, 0)).toBe(15_000);
    expect(nextCheckIn(due, 3, 0, 95_000)).toBe(5_300); // right after the deadline
    expect(nextCheckIn(due, 3, 500, 101_000)).toBe(1_500); // past it: every 2 s until it reads expired
  });

  it('count toward the limit while pending, confirmed or paid', () => {
    const stored = [s('a', 'S', 1), s('b', 'S', 2), s('c', 'S', 1), s('d', 'T', 5), s('e', 'S', 1)];
    const details = {
      a: order({ order_id: 'a', status: 'paid', quantity: 1 }),
      b: order({ order_id: 'b', status: 'cancelled', quantity: 2 }),
      c: order({ order_id: 'c', status: 'confirmed', quantity: 1, payment_due_at: new Date(1000).toISOString() }),
      // e: not fetched yet: counted as stored
    };
    expect(unitsHeld(stored, details, 'S', 500)).toBe(3);
    expect(unitsHeld(stored, details, 'S', 2000)).toBe(2); // c is past its deadline: about to expire
  });
});

describe('routes and lists', () => {
  it('maps paths to pages', () => {
    expect(parseRoute('/shop')).toEqual({ page: 'list' });
    expect(parseRoute('/shop/')).toEqual({ page: 'list' });
    expect(parseRoute('/shop/sale/01a2-x')).toEqual({ page: 'sale', id: '01a2-x' });
    expect(parseRoute('/shop/sale/01a2-x/')).toEqual({ page: 'sale', id: '01a2-x' });
    expect(parseRoute('/shop/nope').page).toBe('not_found');
    expect(saleHref('a b')).toBe('/shop/sale/a%20b');
  });

  it('lists scheduled, active and sold-out sales, not paused or ended ones', () => {
    const all = ['ended', 'sold_out', 'paused', 'scheduled', 'active'].map((status) => sale({ id: status, status }));
    expect(shopSales(all).map((s) => s.status)).toEqual(['active', 'scheduled', 'sold_out']);
  });

  it('offers Pay only when the engine takes payments itself', () => {
    expect(paymentsAreSimulated('simulated (webhook off)')).toBe(true);
    expect(paymentsAreSimulated('simulated (webhook on)')).toBe(true);
    expect(paymentsAreSimulated('provider webhooks')).toBe(false);
    expect(paymentsAreSimulated(undefined)).toBe(false);
  });

  it('shows the sale list with units left and links to each sale', async () => {
    const engine = fakeEngine({ remaining: 3, stock: 10, per_user_limit: 2, product: 'Neon sneakers' });
    render(<ShopApp />);
    const card = await screen.findByTestId('sale-card');
    expect(card.dataset.status).toBe('active');
    expect(card.querySelector('[data-testid=units-left]')!.getAttribute('data-value')).toBe('3');
    expect(card.textContent).toMatch(/Limit 2 per buyer/);
    const link = screen.getByRole('link', { name: 'Neon sneakers' });
    expect(link.getAttribute('href')).toBe(`/shop/sale/${engine.sale.id}`);
    act(() => link.click());
    expect(window.location.pathname).toBe(`/shop/sale/${engine.sale.id}`);
    expect(await screen.findByTestId('sale')).toBeTruthy();
  });
});
