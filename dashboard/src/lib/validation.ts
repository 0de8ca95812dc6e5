import { components, paths } from '../api/openapi.json';
import { fmtInt, fmtPrice } from './format';
import type { NewSale, StampedeRequest } from './types';

const { CreateSaleRequest: sale, StockChangeRequest: stockChange, StampedeRequest: stampede } = components.schemas;

interface Range {
  min: number;
  max: number;
}
const range = (p: { minimum: number; maximum: number }): Range => ({ min: p.minimum, max: p.maximum });
const listingLimit = paths['/api/sales'].get.parameters.find((p) => p.name === 'limit')!.schema as { minimum: number; maximum: number };

/**
 * The engine's bounds on what the forms send, read from its OpenAPI document
 * (src/api/openapi.json) so that they cannot drift from the engine.
 */
export const LIMITS = {
  name: sale.properties.name,
  product: sale.properties.product,
  priceCents: range(sale.properties.price_cents),
  stock: range(sale.properties.stock),
  perUserLimit: range(sale.properties.per_user_limit),
  /** Seconds a buyer has to pay once the order is stored; 0: no payment step. */
  paymentWindow: range(sale.properties.payment_window_seconds),
  /** A fair start: seconds of the opening draw before the start (prequeue) and after it; 0 and 0: none. */
  prequeue: range(sale.properties.prequeue_seconds),
  fairStart: range(sale.properties.fair_start_seconds),
  // Written by hand, as the schema cannot say them: the engine also caps the
  // two together at that same maximum (60 s), and wants a start time with them.
  drawWindow: sale.properties.fair_start_seconds.maximum,
  /** Redis slots the sale's live stock is split over (a hot sale on several cluster masters); 1: one slot. */
  // Written by hand, as the schema cannot say it: no more buckets than units of stock.
  stockBuckets: range(sale.properties.stock_buckets),
  // Written by hand: the schema bounds `add` to -max..max, and the engine also
  // refuses 0, which the schema cannot say; the form asks for a positive amount
  // and the button gives the sign.
  stockChange: { min: 1, max: stockChange.properties.add.maximum },
  buyers: range(stampede.properties.buyers),
  attempts: range(stampede.properties.attempts_per_buyer),
  quantity: range(stampede.properties.quantity),
  /** Sales per page of `GET /api/sales`. */
  listing: range(listingLimit),
};

/** "1 – 10,000,000": a range for a field's hint. */
export const rangeHint = (r: Range) => `${fmtInt(r.min)} – ${fmtInt(r.max)}`;

export type Errors<K extends string> = Partial<Record<K, string>>;

export interface SaleFormValues {
  name: string;
  product: string;
  /** price in currency units, e.g. "19.99" */
  price: string;
  stock: string;
  perUserLimit: string;
  /** seconds to pay once an order is stored; "0" (or empty): no payment step */
  paymentWindow: string;
  /** `datetime-local` values (local time), optional */
  startsAt: string;
  endsAt: string;
  /** a fair start: seconds of the draw before and after `startsAt`; "0" (or empty) and "0": none */
  prequeue: string;
  fairStart: string;
  /** Redis slots the live stock is split over; "1" (or empty): one, the engine's default */
  stockBuckets: string;
}

export const emptySaleForm: SaleFormValues = {
  name: '',
  product: '',
  price: '',
  stock: '',
  perUserLimit: '1',
  paymentWindow: '0',
  startsAt: '',
  endsAt: '',
  prequeue: '0',
  fairStart: '0',
  stockBuckets: '1',
};

const INT = /^[+-]?\d+$/;

/** Parses a whole number written by a person; null if it is not one. */
export function parseIntStrict(raw: string): number | null {
  const s = raw.trim().replace(/[_\s]/g, '');
  if (!INT.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

function intInRange(raw: string, label: string, { min, max }: Range): [number | null, string | undefined] {
  if (raw.trim() === '') return [null, `${label} is required.`];
  const n = parseIntStrict(raw);
  if (n === null) return [null, `${label} must be a whole number.`];
  if (n < min || n > max) return [null, `${label} must be between ${fmtInt(min)} and ${fmtInt(max)}.`];
  return [n, undefined];
}

/** Checks a trimmed text against its schema: length in characters (code points), and the pattern. */
function text(value: string, label: string, schema: { minLength: number; maxLength: number; pattern: string }): string | undefined {
  const chars = [...value].length;
  if (chars === 0) return `${label} is required.`;
  if (chars < schema.minLength) return `${label} must be at least ${schema.minLength} characters.`;
  if (chars > schema.maxLength) return `${label} must be at most ${schema.maxLength} characters.`;
  // after trimming, only control characters can fail the pattern
  if (!new RegExp(schema.pattern, 'u').test(value)) return `${label} must not contain control characters.`;
  return undefined;
}

/** "19.99" → 1999 cents; null when not a valid non-negative amount with at most 2 decimals. */
export function parsePriceCents(raw: string): number | null {
  const s = raw.trim();
  if (!/^\d+(\.\d{1,2})?$/.test(s)) return null;
  const [whole, frac = ''] = s.split('.');
  const cents = Number(whole) * 100 + Number((frac + '00').slice(0, 2));
  return Number.isSafeInteger(cents) ? cents : null;
}

function localToIso(v: string): string | null {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export type SaleField = keyof SaleFormValues;

/** Validates the create-sale form against the engine's limits; returns the body to send when valid. */
export function validateSale(v: SaleFormValues): { errors: Errors<SaleField>; body?: NewSale } {
  const errors: Errors<SaleField> = {};
  const name = v.name.trim();
  const product = v.product.trim();
  const nameErr = text(name, 'Name', LIMITS.name);
  if (nameErr) errors.name = nameErr;
  const productErr = text(product, 'Product', LIMITS.product);
  if (productErr) errors.product = productErr;

  let price: number | null = null;
  const { min, max } = LIMITS.priceCents;
  if (v.price.trim() === '') errors.price = 'Price is required (0 for a free item).';
  else {
    price = parsePriceCents(v.price);
    if (price === null) errors.price = 'Price must be a non-negative amount with at most 2 decimals, e.g. 19.99.';
    else if (price < min || price > max) errors.price = `Price must be between ${fmtPrice(min)} and ${fmtPrice(max)}.`;
  }
  const [stock, stockErr] = intInRange(v.stock, 'Stock', LIMITS.stock);
  if (stockErr) errors.stock = stockErr;
  const [limit, limitErr] = intInRange(v.perUserLimit, 'Per-user limit', LIMITS.perUserLimit);
  if (limitErr) errors.perUserLimit = limitErr;
  const [paymentWindow, windowErr] = intInRange(v.paymentWindow.trim() || '0', 'Payment window', LIMITS.paymentWindow);
  if (windowErr) errors.paymentWindow = windowErr;

  const startsAt = v.startsAt ? localToIso(v.startsAt) : null;
  const endsAt = v.endsAt ? localToIso(v.endsAt) : null;
  if (v.startsAt && !startsAt) errors.startsAt = 'Start is not a valid date and time.';
  if (v.endsAt && !endsAt) errors.endsAt = 'End is not a valid date and time.';
  if (startsAt && endsAt && new Date(endsAt) <= new Date(startsAt)) errors.endsAt = 'End must be after the start.';

  const [prequeue, prequeueErr] = intInRange(v.prequeue.trim() || '0', 'Pre-queue', LIMITS.prequeue);
  if (prequeueErr) errors.prequeue = prequeueErr;
  const [fairStart, fairStartErr] = intInRange(v.fairStart.trim() || '0', 'Fair start', LIMITS.fairStart);
  if (fairStartErr) errors.fairStart = fairStartErr;
  const drawWindow = (prequeue ?? 0) + (fairStart ?? 0);
  if (drawWindow > LIMITS.drawWindow) errors.fairStart ??= `Pre-queue and fair start must be ${LIMITS.drawWindow} s together at most.`;
  if (drawWindow > 0 && !v.startsAt) errors.startsAt = 'A fair start needs a start time.';

  const [stockBuckets, bucketsErr] = intInRange(v.stockBuckets.trim() || '1', 'Stock buckets', LIMITS.stockBuckets);
  if (bucketsErr) errors.stockBuckets = bucketsErr;
  else if (stock !== null && stockBuckets! > stock) errors.stockBuckets = `Stock buckets must be at most the stock (${fmtInt(stock)}).`;

  if (Object.keys(errors).length > 0) return { errors };
  const body: NewSale = {
    name,
    product,
    price_cents: price!,
    stock: stock!,
    per_user_limit: limit!,
  };
  // 0 is the engine's default (no payment step): sent only when there is a window
  if (paymentWindow) body.payment_window_seconds = paymentWindow;
  if (startsAt) body.starts_at = startsAt;
  if (endsAt) body.ends_at = endsAt;
  // likewise 0 and 0: no fair start
  if (prequeue) body.prequeue_seconds = prequeue;
  if (fairStart) body.fair_start_seconds = fairStart;
  // and 1: one bucket, the body as before the setting existed
  if (stockBuckets !== null && stockBuckets !== 1) body.stock_buckets = stockBuckets;
  return { errors, body };
}

export type StockField = 'amount';

/** Validates a stock change; `direction` -1 withdraws. */
export function validateStock(
  raw: string,
  direction: 1 | -1,
  remaining: number | undefined,
): { errors: Errors<StockField>; add?: number } {
  const [n, err] = intInRange(raw, 'Amount', LIMITS.stockChange);
  if (err) return { errors: { amount: err } };
  if (direction === -1 && remaining !== undefined && n! > remaining) {
    return { errors: { amount: `Cannot withdraw more than the ${fmtInt(remaining)} units left.` } };
  }
  return { errors: {}, add: direction * n! };
}

export interface StampedeFormValues {
  buyers: string;
  attempts: string;
  quantity: string;
}

export type StampedeField = keyof StampedeFormValues;

export function validateStampede(v: StampedeFormValues): { errors: Errors<StampedeField>; body?: StampedeRequest } {
  const errors: Errors<StampedeField> = {};
  const [buyers, bErr] = intInRange(v.buyers, 'Buyers', LIMITS.buyers);
  if (bErr) errors.buyers = bErr;
  const [attempts, aErr] = intInRange(v.attempts || '1', 'Attempts per buyer', LIMITS.attempts);
  if (aErr) errors.attempts = aErr;
  const [quantity, qErr] = intInRange(v.quantity || '1', 'Quantity', LIMITS.quantity);
  if (qErr) errors.quantity = qErr;
  if (Object.keys(errors).length > 0) return { errors };
  return { errors, body: { buyers: buyers!, attempts_per_buyer: attempts!, quantity: quantity! } };
}
