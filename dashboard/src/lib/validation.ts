import type { NewSale, StampedeRequest } from './types';

export type Errors<K extends string> = Partial<Record<K, string>>;

export interface SaleFormValues {
  name: string;
  product: string;
  /** price in currency units, e.g. "19.99" */
  price: string;
  stock: string;
  perUserLimit: string;
  /** `datetime-local` values (local time), optional */
  startsAt: string;
  endsAt: string;
}

export const emptySaleForm: SaleFormValues = {
  name: '',
  product: '',
  price: '',
  stock: '',
  perUserLimit: '1',
  startsAt: '',
  endsAt: '',
};

const INT = /^[+-]?\d+$/;

/** Parses a whole number written by a person; null if it is not one. */
export function parseIntStrict(raw: string): number | null {
  const s = raw.trim().replace(/[_\s]/g, '');
  if (!INT.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

function intInRange(raw: string, label: string, min: number, max: number): [number | null, string | undefined] {
  if (raw.trim() === '') return [null, `${label} is required.`];
  const n = parseIntStrict(raw);
  if (n === null) return [null, `${label} must be a whole number.`];
  if (n < min || n > max) return [null, `${label} must be between ${fmt(min)} and ${fmt(max)}.`];
  return [n, undefined];
}

function fmt(n: number) {
  return n.toLocaleString('en-US');
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
  if (!name) errors.name = 'Name is required.';
  else if ([...name].length > 120) errors.name = 'Name must be at most 120 characters.';
  if (!product) errors.product = 'Product is required.';
  else if ([...product].length > 120) errors.product = 'Product must be at most 120 characters.';

  let price: number | null = null;
  if (v.price.trim() === '') errors.price = 'Price is required (0 for a free item).';
  else {
    price = parsePriceCents(v.price);
    if (price === null) errors.price = 'Price must be a non-negative amount with at most 2 decimals, e.g. 19.99.';
  }
  const [stock, stockErr] = intInRange(v.stock, 'Stock', 1, 10_000_000);
  if (stockErr) errors.stock = stockErr;
  const [limit, limitErr] = intInRange(v.perUserLimit, 'Per-user limit', 1, 1000);
  if (limitErr) errors.perUserLimit = limitErr;

  const startsAt = v.startsAt ? localToIso(v.startsAt) : null;
  const endsAt = v.endsAt ? localToIso(v.endsAt) : null;
  if (v.startsAt && !startsAt) errors.startsAt = 'Start is not a valid date and time.';
  if (v.endsAt && !endsAt) errors.endsAt = 'End is not a valid date and time.';
  if (startsAt && endsAt && new Date(endsAt) <= new Date(startsAt)) errors.endsAt = 'End must be after the start.';

  if (Object.keys(errors).length > 0) return { errors };
  const body: NewSale = {
    name,
    product,
    price_cents: price!,
    stock: stock!,
    per_user_limit: limit!,
  };
  if (startsAt) body.starts_at = startsAt;
  if (endsAt) body.ends_at = endsAt;
  return { errors, body };
}

export type StockField = 'amount';

/** Validates a stock change; `direction` -1 withdraws. */
export function validateStock(
  raw: string,
  direction: 1 | -1,
  remaining: number | undefined,
): { errors: Errors<StockField>; add?: number } {
  const [n, err] = intInRange(raw, 'Amount', 1, 10_000_000);
  if (err) return { errors: { amount: err } };
  if (direction === -1 && remaining !== undefined && n! > remaining) {
    return { errors: { amount: `Cannot withdraw more than the ${fmt(remaining)} units left.` } };
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
  const [buyers, bErr] = intInRange(v.buyers, 'Buyers', 1, 100_000);
  if (bErr) errors.buyers = bErr;
  const [attempts, aErr] = intInRange(v.attempts || '1', 'Attempts per buyer', 1, 10);
  if (aErr) errors.attempts = aErr;
  const [quantity, qErr] = intInRange(v.quantity || '1', 'Quantity', 1, 1000);
  if (qErr) errors.quantity = qErr;
  if (Object.keys(errors).length > 0) return { errors };
  return { errors, body: { buyers: buyers!, attempts_per_buyer: attempts!, quantity: quantity! } };
}
