import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import {
  emptySaleForm,
  parseIntStrict,
  parsePriceCents,
  validateSale,
  validateStampede,
  validateStock,
  type SaleFormValues,
} from '../src/lib/validation';
import { ApiError } from '../src/lib/api';
import { CreateSaleForm } from '../src/components/CreateSaleForm';
import { StockForm } from '../src/components/StockForm';
import { StampedeForm } from '../src/components/StampedeForm';
import { SALE_ID, sale, saleStats, stats } from './fixtures';
import { panel } from './statsPanelHarness';

afterEach(cleanup);

const good: SaleFormValues = { ...emptySaleForm, name: 'Drop', product: 'Shoe', price: '19.99', stock: '100', perUserLimit: '2' };

describe('validation helpers', () => {
  it('parses whole numbers strictly', () => {
    expect(parseIntStrict('42')).toBe(42);
    expect(parseIntStrict(' 1_000 ')).toBe(1000);
    expect(parseIntStrict('-3')).toBe(-3);
    expect(parseIntStrict('1.5')).toBeNull();
    expect(parseIntStrict('1e3')).toBeNull();
    expect(parseIntStrict('')).toBeNull();
    expect(parseIntStrict('99999999999999999999')).toBeNull();
  });
  it('parses prices into cents', () => {
    expect(parsePriceCents('19.99')).toBe(1999);
    expect(parsePriceCents('0')).toBe(0);
    expect(parsePriceCents('5.5')).toBe(550);
    expect(parsePriceCents('1.999')).toBeNull();
    expect(parsePriceCents('-1')).toBeNull();
    expect(parsePriceCents('abc')).toBeNull();
  });
});

describe('validateSale', () => {
  it('builds the request body the API expects', () => {
    const { errors, body } = validateSale({ ...good, name: '  Drop  ' });
    expect(errors).toEqual({});
    expect(body).toEqual({ name: 'Drop', product: 'Shoe', price_cents: 1999, stock: 100, per_user_limit: 2 });
  });
  it('names every bad field', () => {
    const { errors, body } = validateSale({ ...emptySaleForm, perUserLimit: '0' });
    expect(body).toBeUndefined();
    expect(Object.keys(errors).sort()).toEqual(['name', 'perUserLimit', 'price', 'product', 'stock']);
  });
  it('says what is wrong (the ranges themselves: test/api.test.ts)', () => {
    expect(validateSale({ ...good, stock: '0' }).errors.stock).toMatch(/^Stock must be between [\d,]+ and [\d,]+\.$/);
    expect(validateSale({ ...good, stock: '2.5' }).errors.stock).toMatch(/whole number/);
    expect(validateSale({ ...good, price: '-1' }).errors.price).toMatch(/non-negative/);
    expect(validateSale({ ...good, name: 'x'.repeat(1000) }).errors.name).toMatch(/^Name must be at most \d+ characters\.$/);
  });
  it('sends the payment window only when there is one (0 or empty: none, the default)', () => {
    expect(validateSale({ ...good, paymentWindow: '600' }).body?.payment_window_seconds).toBe(600);
    expect(validateSale({ ...good, paymentWindow: ' 1_800 ' }).body?.payment_window_seconds).toBe(1800);
    for (const none of ['0', '', '  ']) {
      const { errors, body } = validateSale({ ...good, paymentWindow: none });
      expect(errors).toEqual({});
      expect(body).not.toHaveProperty('payment_window_seconds');
    }
    expect(emptySaleForm.paymentWindow).toBe('0');
  });
  it('says what is wrong with the payment window (the range itself: test/api.test.ts)', () => {
    expect(validateSale({ ...good, paymentWindow: '86401' }).errors.paymentWindow).toMatch(/^Payment window must be between 0 and 86,400\.$/);
    expect(validateSale({ ...good, paymentWindow: '-1' }).errors.paymentWindow).toMatch(/between 0 and/);
    expect(validateSale({ ...good, paymentWindow: '10m' }).errors.paymentWindow).toMatch(/whole number/);
    expect(validateSale({ ...good, paymentWindow: '10m' }).body).toBeUndefined();
  });
  it('sends a fair start only when there is one (0 or empty: none, the default)', () => {
    const startsAt = '2030-01-02T10:00';
    expect(validateSale({ ...good, startsAt, prequeue: '5', fairStart: '3' }).body).toMatchObject({ prequeue_seconds: 5, fair_start_seconds: 3 });
    const before = validateSale({ ...good, startsAt, prequeue: ' 10 ', fairStart: '' }).body;
    expect(before?.prequeue_seconds).toBe(10);
    expect(before).not.toHaveProperty('fair_start_seconds');
    for (const none of ['0', '', '  ']) {
      const { errors, body } = validateSale({ ...good, prequeue: none, fairStart: none });
      expect(errors).toEqual({});
      expect(body).not.toHaveProperty('prequeue_seconds');
      expect(body).not.toHaveProperty('fair_start_seconds');
    }
    expect([emptySaleForm.prequeue, emptySaleForm.fairStart]).toEqual(['0', '0']);
  });
  it('says what is wrong with a fair start, as the engine would refuse it (the ranges themselves: test/api.test.ts)', () => {
    const startsAt = '2030-01-02T10:00';
    expect(validateSale({ ...good, startsAt, fairStart: '61' }).errors.fairStart).toMatch(/^Fair start must be between 0 and 60\.$/);
    expect(validateSale({ ...good, startsAt, prequeue: '-1' }).errors.prequeue).toMatch(/^Pre-queue must be between 0 and 60\.$/);
    expect(validateSale({ ...good, startsAt, prequeue: '5s' }).errors.prequeue).toMatch(/whole number/);
    const long = validateSale({ ...good, startsAt, prequeue: '40', fairStart: '30' });
    expect(long.errors).toEqual({ fairStart: 'Pre-queue and fair start must be 60 s together at most.' });
    expect(long.body).toBeUndefined();
    for (const [prequeue, fairStart] of [['5', '0'], ['0', '3']]) {
      const unscheduled = validateSale({ ...good, prequeue, fairStart });
      expect(unscheduled.errors).toEqual({ startsAt: 'A fair start needs a start time.' });
      expect(unscheduled.body).toBeUndefined();
    }
  });
  it('sends stock buckets only when not 1 (1 or empty: one, the default; the body as before)', () => {
    expect(validateSale({ ...good, stockBuckets: '4' }).body).toEqual({ name: 'Drop', product: 'Shoe', price_cents: 1999, stock: 100, per_user_limit: 2, stock_buckets: 4 });
    expect(validateSale({ ...good, stockBuckets: ' 16 ' }).body?.stock_buckets).toBe(16);
    for (const one of ['1', '', '  ']) {
      const { errors, body } = validateSale({ ...good, stockBuckets: one });
      expect(errors).toEqual({});
      expect(body).toEqual(validateSale(good).body);
      expect(body).not.toHaveProperty('stock_buckets');
    }
    expect(emptySaleForm.stockBuckets).toBe('1');
  });
  it('says what is wrong with stock buckets, as the engine would refuse them (the range itself: test/api.test.ts)', () => {
    expect(validateSale({ ...good, stockBuckets: '17' }).errors.stockBuckets).toBe('Stock buckets must be between 1 and 16.');
    expect(validateSale({ ...good, stockBuckets: '0' }).errors.stockBuckets).toBe('Stock buckets must be between 1 and 16.');
    expect(validateSale({ ...good, stockBuckets: '2.5' }).errors.stockBuckets).toMatch(/whole number/);
    // no more buckets than units
    const over = validateSale({ ...good, stock: '3', stockBuckets: '4' });
    expect(over.errors).toEqual({ stockBuckets: 'Stock buckets must be at most the stock (3).' });
    expect(over.body).toBeUndefined();
    expect(validateSale({ ...good, stock: '4', stockBuckets: '4' }).body?.stock_buckets).toBe(4);
    // a bad stock is the stock's error alone
    expect(validateSale({ ...good, stock: '0', stockBuckets: '4' }).errors).toEqual({ stock: expect.stringMatching(/^Stock must be between/) });
  });
  it('checks the window and sends RFC 3339 times', () => {
    const bad = validateSale({ ...good, startsAt: '2030-01-02T10:00', endsAt: '2030-01-02T09:00' });
    expect(bad.errors.endsAt).toMatch(/after the start/);
    const ok = validateSale({ ...good, startsAt: '2030-01-02T10:00', endsAt: '2030-01-02T11:00' });
    expect(ok.body?.starts_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(new Date(ok.body!.ends_at!).getTime() - new Date(ok.body!.starts_at!).getTime()).toBe(3_600_000);
  });
});

describe('validateStock and validateStampede', () => {
  it('adds or withdraws, never more than is left', () => {
    expect(validateStock('10', 1, 5).add).toBe(10);
    expect(validateStock('5', -1, 5).add).toBe(-5);
    expect(validateStock('6', -1, 5).errors.amount).toMatch(/more than the 5 units left/);
    expect(validateStock('0', 1, 5).errors.amount).toBeDefined();
    expect(validateStock('', 1, 5).errors.amount).toMatch(/required/);
  });
  it('builds the stampede body, attempts and quantity 1 by default', () => {
    expect(validateStampede({ buyers: '500', attempts: '2', quantity: '1' }).body).toEqual({ buyers: 500, attempts_per_buyer: 2, quantity: 1 });
    expect(validateStampede({ buyers: '10', attempts: '', quantity: '' }).body).toEqual({ buyers: 10, attempts_per_buyer: 1, quantity: 1 });
  });
});

const type = (label: RegExp | string, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } });
/** Fills the sale's required fields: "Drop" of "Shoe" at `price`, `stock` units. */
const fillSale = (price: string, stock: string) => {
  type('Name', 'Drop');
  type('Product', 'Shoe');
  type('Price', price);
  type('Stock', stock);
};

describe('<CreateSaleForm>', () => {
  it('shows the errors next to the fields, marks them invalid, focuses the first, sends nothing', () => {
    const create = vi.fn();
    render(<CreateSaleForm create={create} onCreated={() => {}} />);
    type('Stock', '0');
    fireEvent.click(screen.getByTestId('create-sale'));
    expect(create).not.toHaveBeenCalled();
    const name = screen.getByLabelText('Name');
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByTestId('sale-name-error').textContent).toMatch(/required/);
    expect(name.getAttribute('aria-describedby')).toContain('sale-name-error');
    expect(screen.getByTestId('sale-stock-error').textContent).toMatch(/between 1 and/);
    expect(document.activeElement).toBe(name);
    // errors update as the operator types once the form was submitted
    type('Name', 'Drop');
    expect(screen.queryByTestId('sale-name-error')).toBeNull();
  });

  it('sends the body, reports success and resets', async () => {
    const created = sale({ status: 'scheduled', remaining: 100, sold: 0 });
    const create = vi.fn().mockResolvedValue(created);
    const onCreated = vi.fn();
    render(<CreateSaleForm create={create} onCreated={onCreated} />);
    fillSale('19.99', '100');
    type('Per-user limit', '2');
    fireEvent.click(screen.getByTestId('create-sale'));
    // no payment window and no fair start by default: neither is sent
    expect(create).toHaveBeenCalledWith({ name: 'Drop', product: 'Shoe', price_cents: 1999, stock: 100, per_user_limit: 2 });
    await waitFor(() => expect(screen.getByTestId('create-result').dataset.kind).toBe('ok'));
    expect(screen.getByTestId('create-result').textContent).toMatch(/Drop.*created/);
    expect(onCreated).toHaveBeenCalledWith(created);
    expect((screen.getByLabelText('Name') as HTMLInputElement).value).toBe('');
  });

  it('has a payment window field in seconds, 0 by default, sent as payment_window_seconds', async () => {
    const created = sale({ status: 'scheduled', remaining: 100, sold: 0, payment_window_seconds: 600 });
    const create = vi.fn().mockResolvedValue(created);
    render(<CreateSaleForm create={create} onCreated={() => {}} />);
    const field = screen.getByLabelText('Payment window') as HTMLInputElement;
    expect(field.value).toBe('0');
    expect(document.getElementById(field.getAttribute('aria-describedby')!)?.textContent).toBe('0 – 86,400 s · 0 = none');
    fillSale('19.99', '100');
    type('Payment window', '600');
    fireEvent.click(screen.getByTestId('create-sale'));
    expect(create).toHaveBeenCalledWith({ name: 'Drop', product: 'Shoe', price_cents: 1999, stock: 100, per_user_limit: 1, payment_window_seconds: 600 });
    await waitFor(() => expect(screen.getByTestId('create-result').dataset.kind).toBe('ok'));
    expect(screen.getByTestId('create-result').textContent).toMatch(/Drop.*created.*10 min to pay/);
    expect((screen.getByLabelText('Payment window') as HTMLInputElement).value).toBe('0');
  });

  it('refuses a payment window out of range next to the field, and focuses it', () => {
    const create = vi.fn();
    render(<CreateSaleForm create={create} onCreated={() => {}} />);
    fillSale('1', '5');
    type('Payment window', '100000');
    fireEvent.click(screen.getByTestId('create-sale'));
    expect(create).not.toHaveBeenCalled();
    const field = screen.getByLabelText('Payment window');
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByTestId('sale-paymentWindow-error').textContent).toMatch(/between 0 and 86,400/);
    expect(document.activeElement).toBe(field);
    type('Payment window', '0');
    expect(screen.queryByTestId('sale-paymentWindow-error')).toBeNull();
  });

  it('has pre-queue and fair start fields in seconds, 0 by default, sent with the start time', async () => {
    const created = sale({ status: 'scheduled', remaining: 100, sold: 0, starts_at: '2030-01-02T10:00:00Z', prequeue_seconds: 5, fair_start_seconds: 3 });
    const create = vi.fn().mockResolvedValue(created);
    render(<CreateSaleForm create={create} onCreated={() => {}} />);
    for (const [label, hint] of [['Pre-queue', '0 – 60 s before the start'], ['Fair start', '0 – 60 s after the start']]) {
      const field = screen.getByLabelText(label) as HTMLInputElement;
      expect(field.value).toBe('0');
      const [own, draw] = field.getAttribute('aria-describedby')!.split(' ').map((id) => document.getElementById(id)?.textContent);
      expect(own).toBe(hint);
      expect(draw).toMatch(/draw, served in random order/);
    }
    fillSale('19.99', '100');
    type('Starts at (optional)', '2030-01-02T10:00');
    type('Pre-queue', '5');
    type('Fair start', '3');
    fireEvent.click(screen.getByTestId('create-sale'));
    expect(create).toHaveBeenCalledWith({
      name: 'Drop',
      product: 'Shoe',
      price_cents: 1999,
      stock: 100,
      per_user_limit: 1,
      starts_at: new Date('2030-01-02T10:00').toISOString(),
      prequeue_seconds: 5,
      fair_start_seconds: 3,
    });
    await waitFor(() => expect(screen.getByTestId('create-result').dataset.kind).toBe('ok'));
    expect(screen.getByTestId('create-result').textContent).toMatch(/Drop.*created.*fair start 5 s before the start → 3 s after/);
    expect((screen.getByLabelText('Fair start') as HTMLInputElement).value).toBe('0');
  });

  it('refuses a fair start out of range, over 60 s together or without a start time, next to the field, and sends nothing', () => {
    const create = vi.fn();
    render(<CreateSaleForm create={create} onCreated={() => {}} />);
    fillSale('1', '5');
    type('Fair start', '10');
    fireEvent.click(screen.getByTestId('create-sale'));
    const startsAt = screen.getByLabelText('Starts at (optional)');
    expect(screen.getByTestId('sale-startsAt-error').textContent).toBe('A fair start needs a start time.');
    expect(document.activeElement).toBe(startsAt);
    type('Starts at (optional)', '2030-01-02T10:00');
    expect(screen.queryByTestId('sale-startsAt-error')).toBeNull();
    type('Pre-queue', '61');
    expect(screen.getByTestId('sale-prequeue-error').textContent).toBe('Pre-queue must be between 0 and 60.');
    type('Pre-queue', '55');
    expect(screen.queryByTestId('sale-prequeue-error')).toBeNull();
    fireEvent.click(screen.getByTestId('create-sale'));
    const fairStart = screen.getByLabelText('Fair start');
    expect(fairStart.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByTestId('sale-fairStart-error').textContent).toBe('Pre-queue and fair start must be 60 s together at most.');
    expect(document.activeElement).toBe(fairStart);
    expect(create).not.toHaveBeenCalled();
  });

  it('has a stock buckets field, 1 by default and not sent at 1, sent as stock_buckets otherwise', async () => {
    const created = sale({ status: 'scheduled', remaining: 100, sold: 0, stock_buckets: 4 });
    const create = vi.fn().mockResolvedValue(created);
    render(<CreateSaleForm create={create} onCreated={() => {}} />);
    const field = screen.getByLabelText('Stock buckets') as HTMLInputElement;
    expect(field.value).toBe('1');
    expect(document.getElementById(field.getAttribute('aria-describedby')!)?.textContent).toBe(
      '1 – 16 · 1 = one Redis slot; more spreads a hot sale over cluster masters',
    );
    fillSale('19.99', '100');
    type('Stock buckets', '4');
    fireEvent.click(screen.getByTestId('create-sale'));
    expect(create).toHaveBeenCalledWith({ name: 'Drop', product: 'Shoe', price_cents: 1999, stock: 100, per_user_limit: 1, stock_buckets: 4 });
    await waitFor(() => expect(screen.getByTestId('create-result').dataset.kind).toBe('ok'));
    expect(screen.getByTestId('create-result').textContent).toMatch(/Drop.*created.*4 stock buckets/);
    expect((screen.getByLabelText('Stock buckets') as HTMLInputElement).value).toBe('1');
    // left at 1: the same body as before the field existed
    fillSale('19.99', '100');
    fireEvent.click(screen.getByTestId('create-sale'));
    expect(create).toHaveBeenLastCalledWith({ name: 'Drop', product: 'Shoe', price_cents: 1999, stock: 100, per_user_limit: 1 });
  });

  it('refuses stock buckets above 16, at 0 or above the stock, next to the field, and sends nothing', () => {
    const create = vi.fn();
    render(<CreateSaleForm create={create} onCreated={() => {}} />);
    fillSale('1', '5');
    type('Stock buckets', '17');
    fireEvent.click(screen.getByTestId('create-sale'));
    const field = screen.getByLabelText('Stock buckets');
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByTestId('sale-stockBuckets-error').textContent).toBe('Stock buckets must be between 1 and 16.');
    expect(document.activeElement).toBe(field);
    type('Stock buckets', '0');
    expect(screen.getByTestId('sale-stockBuckets-error').textContent).toBe('Stock buckets must be between 1 and 16.');
    type('Stock buckets', '6');
    expect(screen.getByTestId('sale-stockBuckets-error').textContent).toBe('Stock buckets must be at most the stock (5).');
    fireEvent.click(screen.getByTestId('create-sale'));
    expect(create).not.toHaveBeenCalled();
    // more stock, and the same count is fine
    type('Stock', '6');
    expect(screen.queryByTestId('sale-stockBuckets-error')).toBeNull();
  });

  it("shows the API's error message and code", async () => {
    const create = vi.fn().mockRejectedValue(new ApiError(400, 'invalid_request', 'stock must be at most 10000000'));
    render(<CreateSaleForm create={create} onCreated={() => {}} />);
    fillSale('1', '5');
    fireEvent.click(screen.getByTestId('create-sale'));
    await waitFor(() => expect(screen.getByTestId('create-result').dataset.kind).toBe('error'));
    expect(screen.getByRole('alert').textContent).toMatch(/stock must be at most 10000000.*invalid_request/);
    expect((screen.getByLabelText('Name') as HTMLInputElement).value).toBe('Drop');
  });
});

describe("the sale's stock buckets, with its other settings", () => {
  it('shown when more than 1, nothing at 1', () => {
    panel(stats({}, [saleStats({ sale_id: SALE_ID })]), sale({ stock_buckets: 4 }));
    const b = screen.getByTestId('sale-stock-buckets');
    expect(b.textContent).toBe('Stock in 4 buckets');
    expect(b.dataset.value).toBe('4');
    cleanup();
    panel(stats({}, [saleStats({ sale_id: SALE_ID })]), sale({ stock_buckets: 1 }));
    expect(screen.getByTestId('sale-meta')).toBeTruthy();
    expect(screen.queryByTestId('sale-stock-buckets')).toBeNull();
  });
});

describe('<StockForm>', () => {
  it('refuses to withdraw more than is left, without calling the API', () => {
    const change = vi.fn();
    render(<StockForm sale={sale()} change={change} onChanged={() => {}} />);
    type('Units', '31');
    fireEvent.click(screen.getByTestId('stock-withdraw'));
    expect(change).not.toHaveBeenCalled();
    expect(screen.getByTestId('stock-amount-error').textContent).toMatch(/30 units left/);
  });
  it('withdraws with a negative add and shows the result', async () => {
    const change = vi.fn().mockResolvedValue(sale({ stock: 90, remaining: 20 }));
    render(<StockForm sale={sale()} change={change} onChanged={() => {}} />);
    type('Units', '10');
    fireEvent.click(screen.getByTestId('stock-withdraw'));
    expect(change).toHaveBeenCalledWith(sale().id, -10);
    await waitFor(() => expect(screen.getByTestId('stock-result').textContent).toMatch(/Withdrew 10 units: stock 90, 20 left/));
  });
  it('is disabled for an ended sale', () => {
    render(<StockForm sale={sale({ status: 'ended' })} change={vi.fn()} onChanged={() => {}} />);
    expect((screen.getByTestId('stock-add') as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('<StampedeForm>', () => {
  it('validates, then launches with the body the API expects', async () => {
    const launch = vi.fn().mockResolvedValue({ sale_id: sale().id, buyers: 300, attempts_per_buyer: 2 });
    render(<StampedeForm sale={sale()} launch={launch} />);
    type('Buyers', '0');
    fireEvent.click(screen.getByTestId('stampede-launch'));
    expect(launch).not.toHaveBeenCalled();
    expect(screen.getByTestId('stampede-buyers-error')).toBeTruthy();
    type('Buyers', '300');
    type('Tries each', '2');
    fireEvent.click(screen.getByTestId('stampede-launch'));
    expect(launch).toHaveBeenCalledWith(sale().id, { buyers: 300, attempts_per_buyer: 2, quantity: 1 });
    await waitFor(() => expect(screen.getByTestId('stampede-result').textContent).toMatch(/300 buyers × 2 attempts/));
  });
  it('is disabled without a sale', () => {
    render(<StampedeForm sale={null} launch={vi.fn()} />);
    expect((screen.getByTestId('stampede-launch') as HTMLButtonElement).disabled).toBe(true);
  });
});
