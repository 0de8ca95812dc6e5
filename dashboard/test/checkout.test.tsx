// Checkout on the page: the payment window of the sale, the units awaiting
// payment and paid, the orders by status, and the ledger check's new terms.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen, within } from '@testing-library/react';
import { StatsPanel } from '../src/components/StatsPanel';
import { initialStats } from '../src/lib/stats';
import { fmtDuration } from '../src/lib/format';
import { checkoutSaleStats, SALE_ID, sale, saleStats, stats } from './fixtures';
import { fed, panel } from './statsPanelHarness';

afterEach(cleanup);



const value = (testId: string) => screen.getByTestId(testId).dataset.value;

describe('payment window', () => {
  it('formats a window in words', () => {
    expect([0, 45, 90, 600, 3600, 5400, 86_400].map(fmtDuration)).toEqual(['none', '45 s', '1 min 30 s', '10 min', '1 h', '1 h 30 min', '24 h']);
    expect(fmtDuration(undefined)).toBe('—');
  });

  it("shows the sale's window next to its other settings", () => {
    panel(stats({}, [checkoutSaleStats()]), sale({ payment_window_seconds: 600 }));
    const w = screen.getByTestId('sale-payment-window');
    expect(w.dataset.value).toBe('600');
    expect(w.textContent).toBe('Pay within 10 min');
    expect(screen.getByTestId('tile-awaiting').textContent).toMatch(/10 min to pay/);
  });

  it('says when a sale has none', () => {
    panel(stats({}, [saleStats({ sale_id: SALE_ID })]), sale());
    expect(value('sale-payment-window')).toBe('0');
    expect(screen.getByTestId('sale-payment-window').textContent).toBe('Payment window none');
    expect(screen.getByTestId('tile-awaiting').textContent).toMatch(/no window · all sales/);
  });
});

describe('checkout figures of the selected sale', () => {
  it('shows the units awaiting payment and paid, and the orders by status', () => {
    const other = checkoutSaleStats({ sale_id: 'other', units_awaiting_payment: 3, units_paid: 7 });
    panel(stats({}, [checkoutSaleStats(), other]), sale({ payment_window_seconds: 600 }));
    expect(value('stat-awaiting')).toBe('20');
    expect(screen.getByTestId('stat-awaiting').textContent).toBe('20');
    expect(value('stat-paid')).toBe('15');
    // the other sale counts in the "all sales" figures only
    expect(screen.getByTestId('tile-awaiting').textContent).toMatch(/all sales 23/);
    expect(screen.getByTestId('tile-paid').textContent).toMatch(/all sales 22/);
    const rows = within(screen.getByTestId('orders-by-status')).getAllByRole('listitem');
    expect(rows.map((r) => [r.dataset.testid, r.dataset.value, r.textContent])).toEqual([
      ['orders-confirmed', '20', 'confirmed20'],
      ['orders-paid', '15', 'paid15'],
      ['orders-expired', '4', 'expired4'],
      ['orders-cancelled', '1', 'cancelled1'],
    ]);
  });

  it('updates with the next stats sample (a purchase stored: 1 unit awaiting payment)', () => {
    const before = checkoutSaleStats({ units_persisted: 0, orders_persisted: 0, units_awaiting_payment: 0, units_paid: 0, orders_by_status: { confirmed: 0, paid: 0, expired: 0, cancelled: 0 } });
    const { rerender } = panel(stats({}, [before]), sale({ payment_window_seconds: 60 }));
    expect(value('stat-awaiting')).toBe('0');
    const after = checkoutSaleStats({ units_persisted: 1, orders_persisted: 1, units_awaiting_payment: 1, units_paid: 0, orders_by_status: { confirmed: 1, paid: 0, expired: 0, cancelled: 0 } });
    rerender(
      <StatsPanel
        stats={fed(stats({ generated_at: '2025-01-01T00:00:01Z' }, [after]))}
        stale={false}
        sales={[sale({ payment_window_seconds: 60 })]}
        selectedId={SALE_ID}
        onSelect={() => {}}
        sale={sale({ payment_window_seconds: 60 })}
        salesError={null}
        now={2_000}
      />,
    );
    expect(value('stat-awaiting')).toBe('1');
    expect(value('stat-paid')).toBe('0');
    expect(value('orders-confirmed')).toBe('1');
  });

  it('shows a status the engine adds after the four known ones', () => {
    panel(stats({}, [checkoutSaleStats({ orders_by_status: { confirmed: 1, paid: 2, expired: 0, cancelled: 0, refunded: 5 } })]), sale({ payment_window_seconds: 60 }));
    expect(value('orders-refunded')).toBe('5');
  });

  it('all sales when none is selected: the checkout figures summed', () => {
    panel(stats({}, [checkoutSaleStats(), checkoutSaleStats({ sale_id: 's2', units_awaiting_payment: 1, units_paid: 2, orders_by_status: { paid: 2, expired: 3 } })]), null, null);
    expect(value('stat-awaiting')).toBe('21');
    expect(value('stat-paid')).toBe('17');
    expect(value('orders-paid')).toBe('17');
    expect(value('orders-expired')).toBe('7');
    expect(screen.getByTestId('orders-by-status').textContent).toMatch(/all sales/);
    expect(screen.queryByTestId('sale-payment-window')).toBeNull();
  });

  it('no figure before the first stats', () => {
    render(<StatsPanel stats={initialStats} stale sales={[]} selectedId={null} onSelect={() => {}} sale={null} salesError={null} now={0} />);
    expect(value('stat-awaiting')).toBe('');
    expect(value('orders-paid')).toBe('');
    expect(screen.getByTestId('orders-paid').textContent).toMatch(/—/);
  });
});

describe('the ledger check', () => {
  const sub = () => screen.getByTestId('tile-ledger').querySelector('.tile-sub')!;

  it('on a sale with a window: stock = left + in flight + awaiting payment + paid', () => {
    panel(stats({}, [checkoutSaleStats()]), sale({ payment_window_seconds: 600 }));
    expect(screen.getByTestId('ledger').dataset.ok).toBe('true');
    expect(sub().textContent).toBe('stock 100 = 60 left + 5 in flight + 20 awaiting payment + 15 paid');
    expect(sub().querySelector('span')!.getAttribute('title')).toMatch(/remaining \+ in flight \+ units awaiting payment \+ units paid/);
  });

  it('on a sale without one: the stored orders are final', () => {
    panel(stats({}, [saleStats({ sale_id: SALE_ID })]), sale());
    expect(sub().textContent).toBe('stock 100 = 60 left + 5 in flight + 35 stored');
  });

  it('failed: names the new terms', () => {
    panel(stats({}, [checkoutSaleStats({ ledger: { ok: false, difference: 2 } })]), sale({ payment_window_seconds: 600 }));
    expect(screen.getByTestId('ledger').dataset.ok).toBe('false');
    expect(sub().textContent).toMatch(/^stock ≠ left \+ in flight \+ awaiting payment \+ paid/);
  });
});
