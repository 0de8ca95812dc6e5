// @vitest-environment node
// The dashboard against the engine's OpenAPI document (src/api/openapi.json):
// the forms accept exactly its ranges.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { emptySaleForm, LIMITS, validateSale, validateStampede, validateStock, type SaleFormValues } from '../src/lib/validation';

const DASH = fileURLToPath(new URL('..', import.meta.url));
const doc = JSON.parse(fs.readFileSync(path.join(DASH, 'src/api/openapi.json'), 'utf8'));
const prop = (schema: string, field: string) => doc.components.schemas[schema].properties[field];
const range = (schema: string, field: string) => ({ min: prop(schema, field).minimum, max: prop(schema, field).maximum });

describe("the forms' limits are the schema's", () => {
  it('LIMITS are read from the schema', () => {
    expect(LIMITS.name.maxLength).toBe(prop('CreateSaleRequest', 'name').maxLength);
    expect(LIMITS.product.maxLength).toBe(prop('CreateSaleRequest', 'product').maxLength);
    expect(LIMITS.priceCents).toEqual(range('CreateSaleRequest', 'price_cents'));
    expect(LIMITS.stock).toEqual(range('CreateSaleRequest', 'stock'));
    expect(LIMITS.perUserLimit).toEqual(range('CreateSaleRequest', 'per_user_limit'));
    expect(LIMITS.paymentWindow).toEqual(range('CreateSaleRequest', 'payment_window_seconds'));
    expect(LIMITS.prequeue).toEqual(range('CreateSaleRequest', 'prequeue_seconds'));
    expect(LIMITS.fairStart).toEqual(range('CreateSaleRequest', 'fair_start_seconds'));
    expect(LIMITS.stockBuckets).toEqual(range('CreateSaleRequest', 'stock_buckets'));
    expect(LIMITS.stockChange.max).toBe(range('StockChangeRequest', 'add').max);
    expect(LIMITS.buyers).toEqual(range('StampedeRequest', 'buyers'));
    expect(LIMITS.attempts).toEqual(range('StampedeRequest', 'attempts_per_buyer'));
    expect(LIMITS.quantity).toEqual(range('StampedeRequest', 'quantity'));
    const limit = doc.paths['/api/sales'].get.parameters.find((p: { name: string }) => p.name === 'limit').schema;
    expect(LIMITS.listing).toEqual({ min: limit.minimum, max: limit.maximum });
  });

  /** `check` accepts min and max, refuses min - 1 and max + 1. */
  function exactly(check: (n: number) => string | undefined, { min, max }: { min: number; max: number }) {
    expect([min, max, min - 1, max + 1].map((n) => check(n) === undefined)).toEqual([true, true, false, false]);
  }
  const good: SaleFormValues = { ...emptySaleForm, name: 'Drop', product: 'Shoe', price: '1', stock: '10', perUserLimit: '1' };
  const sale = (over: Partial<SaleFormValues>) => validateSale({ ...good, ...over }).errors;

  it('create sale: name and product lengths (in characters), no control characters', () => {
    for (const field of ['name', 'product'] as const) {
      const { minLength, maxLength } = prop('CreateSaleRequest', field);
      exactly((n) => sale({ [field]: '🛒'.repeat(n) })[field], { min: minLength, max: maxLength });
      expect(sale({ [field]: 'a\u0007b' })[field]).toMatch(/control characters/);
    }
  });
  it('create sale: price, stock and per-user limit ranges', () => {
    exactly((n) => sale({ price: (n / 100).toFixed(2) }).price, range('CreateSaleRequest', 'price_cents'));
    exactly((n) => sale({ stock: String(n) }).stock, range('CreateSaleRequest', 'stock'));
    exactly((n) => sale({ perUserLimit: String(n) }).perUserLimit, range('CreateSaleRequest', 'per_user_limit'));
  });
  it('create sale: payment window range, in seconds (0: none)', () => {
    exactly((n) => sale({ paymentWindow: String(n) }).paymentWindow, range('CreateSaleRequest', 'payment_window_seconds'));
    expect(validateSale({ ...good, paymentWindow: '0' }).body).not.toHaveProperty('payment_window_seconds');
  });
  it('create sale: pre-queue and fair start ranges, in seconds (0 and 0: none; the engine caps them together too)', () => {
    const startsAt = '2030-01-02T10:00';
    exactly((n) => sale({ startsAt, prequeue: String(n) }).prequeue, range('CreateSaleRequest', 'prequeue_seconds'));
    exactly((n) => sale({ startsAt, fairStart: String(n) }).fairStart, range('CreateSaleRequest', 'fair_start_seconds'));
    const max = LIMITS.drawWindow;
    exactly((n) => sale({ startsAt, prequeue: String(n - Math.floor(n / 2)), fairStart: String(Math.floor(n / 2)) }).fairStart, { min: 0, max });
    expect(validateSale({ ...good, prequeue: '0', fairStart: '0' }).body).not.toHaveProperty('fair_start_seconds');
  });
  it('create sale: stock buckets range (1: one, not sent), and no more than the stock', () => {
    const buckets = range('CreateSaleRequest', 'stock_buckets');
    exactly((n) => sale({ stock: String(buckets.max + 1), stockBuckets: String(n) }).stockBuckets, buckets);
    exactly((n) => sale({ stock: '5', stockBuckets: String(n) }).stockBuckets, { min: buckets.min, max: 5 });
    expect(validateSale({ ...good, stockBuckets: '1' }).body).not.toHaveProperty('stock_buckets');
  });
  it('stock change: up to the schema maximum either way (0 is refused by the engine)', () => {
    const { min, max } = range('StockChangeRequest', 'add');
    exactly((n) => validateStock(String(n), 1, undefined).errors.amount, { min: 1, max });
    expect(validateStock(String(-min), -1, -min).add).toBe(min);
  });
  it('stampede: buyers, attempts per buyer and quantity ranges', () => {
    const stampede = { buyers: '1', attempts: '1', quantity: '1' };
    exactly((n) => validateStampede({ ...stampede, buyers: String(n) }).errors.buyers, range('StampedeRequest', 'buyers'));
    exactly((n) => validateStampede({ ...stampede, attempts: String(n) }).errors.attempts, range('StampedeRequest', 'attempts_per_buyer'));
    exactly((n) => validateStampede({ ...stampede, quantity: String(n) }).errors.quantity, range('StampedeRequest', 'quantity'));
  });
});
