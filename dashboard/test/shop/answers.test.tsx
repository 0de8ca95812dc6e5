// What the buyer reads: each answer of the engine in words, announced by a
// polite live region.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { Answer } from '../../src/shop/components/Answer';
import { intentWords, limitHeldWords, orderWords, refusalWords } from '../../src/shop/lib/answers';
import type { Intent } from '../../src/shop/lib/intent';
import type { components } from '../../src/api/schema';

afterEach(cleanup);

const intent: Intent = { key: 'k', saleId: 's', quantity: 2, startedAt: 0 };

describe('refusals in plain words', () => {
  const cases: [string, RegExp][] = [
    ['sold_out', /^Sold out: every unit has been sold/],
    ['limit_exceeded', /^Limit reached: each buyer may buy at most 2 units of this sale/],
    ['rate_limited', /^Too many requests/],
    ['overloaded', /^The shop is overloaded/],
    ['unavailable', /^The shop is unavailable/],
    ['internal', /^The shop is unavailable/],
    ['network_error', /^Cannot reach the shop/],
    ['unauthorized', /sign in again/],
    ['sale_not_found', /^This sale does not exist/],
    ['idempotency_key_reused', /already used for another quantity/],
    ['invalid_request', /^The shop refused the request: quantity must be/],
    ['order_expired', /^Too late: the order expired/],
    ['order_cancelled', /was cancelled/],
    ['order_paid', /paid already/],
    ['order_not_awaiting_payment', /not awaiting payment/],
    ['not_found', /Payments are not taken on this page/],
    ['something_new', /^The shop refused: quantity must be/],
  ];
  it.each(cases)('%s', (code, words) => {
    expect(refusalWords(code, { status: 'active', per_user_limit: 2 }, 'quantity must be an integer between 1 and 1000').text).toMatch(words);
  });

  it('tells "not started" from "paused" and "ended" (the engine says sale_not_active for all three)', () => {
    expect(refusalWords('sale_not_active', { status: 'scheduled', starts_at: '2026-11-30T10:04:11.000Z' }).text).toMatch(/^Not started yet: the sale opens at \d\d:\d\d:\d\d/);
    expect(refusalWords('sale_not_active', { status: 'scheduled' }).title).toBe('Not started');
    expect(refusalWords('sale_not_active', { status: 'paused' }).text).toMatch(/^Paused: the sale is on hold/);
    expect(refusalWords('sale_not_active', { status: 'ended' }).text).toMatch(/^Ended/);
    expect(refusalWords('sale_not_active', { status: 'active' }).text).toMatch(/not open for purchases right now/);
  });

  it('has words for every refusal code a buyer can get', () => {
    type Code = components['schemas']['ErrorCode'];
    const buyerCodes: Code[] = ['invalid_request', 'unauthorized', 'sale_not_found', 'order_not_found', 'not_found', 'sold_out', 'sale_not_active', 'limit_exceeded', 'idempotency_key_reused', 'order_not_awaiting_payment', 'order_paid', 'order_expired', 'order_cancelled', 'rate_limited', 'overloaded', 'unavailable', 'internal'];
    for (const c of buyerCodes) expect(refusalWords(c).text, c).not.toMatch(/The shop refused \(/);
  });
});

describe('an order in words', () => {
  const o = { order_id: 'o-1', quantity: 1, payment_due_at: null, void_reason: null };
  it.each([
    ['pending', /^Order o-1 is pending: your 1 unit is reserved/],
    ['confirmed', /^Order o-1 is confirmed: the 1 unit is yours/],
    ['paid', /^Order o-1 is paid/],
    ['expired', /^Order o-1 expired: it was not paid in time/],
    ['cancelled', /^Order o-1 is cancelled/],
    ['void', /^Order o-1 is void/],
  ])('%s', (status, words) => {
    expect(orderWords({ ...o, status }).text).toMatch(words);
  });
  it('asks to pay by the deadline when there is a payment window', () => {
    expect(orderWords({ ...o, status: 'confirmed', payment_due_at: '2026-11-30T10:06:14.901Z' }).text).toMatch(/^Order o-1 is confirmed: pay by \d\d:\d\d:\d\d to keep it/);
  });
});

describe("the intent's state in words", () => {
  it('while sending, retrying, and after', () => {
    expect(intentWords({ phase: 'idle' }, {}, undefined)).toBeNull();
    expect(intentWords({ phase: 'sending', intent, attempt: 1 }, {}, undefined)!.text).toBe('Buying 2 units…');
    expect(intentWords({ phase: 'sending', intent, attempt: 3 }, {}, undefined)!.text).toMatch(/attempt 3, with the same request/);
    expect(intentWords({ phase: 'waiting', intent, attempt: 1, reason: 'rate_limited', retryAt: 5000, delayMs: 3000 }, {}, undefined, 2000)!.text).toBe(
      'Too many requests: trying again in 3 seconds with the same request (it cannot buy twice).',
    );
    expect(intentWords({ phase: 'accepted', intent, attempts: 1, orderId: 'o-9', remaining: 3, replayed: false }, {}, undefined)!.text).toMatch(/^Order o-9 is pending/);
    expect(intentWords({ phase: 'refused', intent, attempts: 1, status: 409, code: 'sold_out', message: '' }, {}, undefined)!.title).toBe('Sold out');
    const gaveUp = intentWords({ phase: 'gave_up', intent, attempts: 9, reason: 'network', retryAfterMs: null }, {}, undefined)!;
    expect(gaveUp.text).toMatch(/^Connection lost: no answer after 9 attempts over a minute, so the page stopped trying\. Press Buy to try again: it resends the same request/);
    expect(intentWords({ phase: 'gave_up', intent, attempts: 1, reason: 'rate_limited', retryAfterMs: 120_000 }, {}, undefined)!.text).toMatch(/asks to wait 2 minutes/);
    expect(limitHeldWords(2, 2).text).toBe('Limit reached: each buyer may buy at most 2 units of this sale, and you already have 2 units.');
  });
});

describe('<Answer>: the live region', () => {
  it('is a polite, atomic status region, present (empty) before any answer', () => {
    const { rerender } = render(<Answer words={null} data={{ phase: 'idle' }} />);
    const region = screen.getByRole('status');
    expect(region.getAttribute('aria-live')).toBe('polite');
    expect(region.getAttribute('aria-atomic')).toBe('true');
    expect(region.textContent).toBe('');
    rerender(<Answer words={refusalWords('limit_exceeded', { per_user_limit: 1 })} data={{ phase: 'refused', code: 'limit_exceeded' }} />);
    expect(screen.getByRole('status')).toBe(region);
    expect(region.textContent).toBe('Limit reached. Limit reached: each buyer may buy at most 1 unit of this sale, and you already have your share.');
    expect(region.dataset.code).toBe('limit_exceeded');
    rerender(<Answer words={orderWords({ order_id: 'o-1', quantity: 1, status: 'paid' })} data={{ phase: 'accepted', orderId: 'o-1', status: 'paid' }} />);
    expect(region.textContent).toMatch(/Order o-1 is paid/);
    expect(region.dataset.orderId).toBe('o-1');
    expect(region.querySelector('.result.ok')).not.toBeNull();
  });
});
