import { Api, ApiError } from './api';
import { takeFromFragment } from './fragment';
import { sessionSlot } from './session';

// The admin token lives in sessionStorage only (gone when the browser session ends).
export const TOKEN_KEY = 'flashsale.adminToken';

/**
 * Reads `#admin_token=...` from the URL fragment (printed by the engine's
 * start-up banner), stores it and removes the fragment from the address bar.
 * Returns the token found in the fragment, if any.
 */
export function takeTokenFromFragment(loc: Location = window.location, hist: History = window.history): string | null {
  const token = takeFromFragment('admin_token', loc, hist);
  if (token) storeToken(token);
  return token;
}

const slot = sessionSlot(TOKEN_KEY);

export function loadToken(): string | null {
  return slot.load();
}

export function storeToken(token: string) {
  slot.store(token);
}

export function clearToken() {
  slot.clear();
}

export const REFUSED =
  'The engine refused this admin token (401 unauthorized). Use the token from the start-up banner (FLASHSALE_ADMIN_TOKEN).';

/** Checks a token with GET /api/admin/stats: null when accepted, else a message. */
export async function checkToken(token: string): Promise<string | null> {
  try {
    await new Api(() => token).stats(token);
    return null;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return REFUSED;
    if (e instanceof ApiError) return `Could not check the token: ${e.message}`;
    return 'Could not check the token.';
  }
}

