// The buyer's sign-in: a JWT handed over in the link `/shop/…#token=<JWT>`
// (`flashsale token <user> --shop-url`, or the engine's start-up banner) or
// pasted. It lives in sessionStorage (this browser session only). The page
// reads its payload to show who is signed in; it never verifies it: the
// engine does, on every call.
import { takeFromFragment } from '../../lib/fragment';
import { sessionSlot } from '../../lib/session';

export const BUYER_TOKEN_KEY = 'flashsale.buyerToken';

export interface Buyer {
  token: string;
  /** the JWT's `sub`: the buyer id */
  id: string;
  /** the JWT's `exp`, Unix ms, when it has one */
  expiresAt: number | null;
}

function base64UrlDecode(s: string): string {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const bin = atob(padded);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Reads a JWT's payload (not verified): the buyer, or null when it is no JWT with a `sub`. */
export function decodeBuyer(token: string): Buyer | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const payload = JSON.parse(base64UrlDecode(parts[1]));
    if (!payload || typeof payload.sub !== 'string' || !payload.sub) return null;
    const exp = typeof payload.exp === 'number' && Number.isFinite(payload.exp) ? payload.exp * 1000 : null;
    return { token, id: payload.sub, expiresAt: exp };
  } catch {
    return null;
  }
}

/** What a paste box accepts: the token itself, or the whole sign-in link. */
export function tokenFromPaste(text: string): string {
  const t = text.trim();
  const at = t.indexOf('#');
  if (at !== -1) {
    const token = new URLSearchParams(t.slice(at + 1)).get('token');
    if (token) return token.trim();
  }
  return t.replace(/^Bearer\s+/i, '');
}

/**
 * Why a token cannot sign in, in plain words; null when it can as far as the
 * page can tell. Its expiry is not checked here: the phone's clock may be
 * off (the engine's is the one that counts), and the engine refuses an
 * expired token anyway (401: the page then signs the buyer out and says why).
 */
export function tokenProblem(token: string): string | null {
  if (!decodeBuyer(token)) return 'This is not a buyer sign-in token (a JWT with the buyer id in "sub").';
  return null;
}

/** `#token=…` from the address bar: moved to sessionStorage, removed from the URL. */
export function takeBuyerTokenFromFragment(loc: Location = window.location, hist: History = window.history): string | null {
  const token = takeFromFragment('token', loc, hist);
  if (token) storeBuyerToken(token);
  return token;
}

const slot = sessionSlot(BUYER_TOKEN_KEY);

export function loadBuyerToken(): string | null {
  return slot.load();
}

export function storeBuyerToken(token: string) {
  slot.store(token);
}

export function clearBuyerToken() {
  slot.clear();
}
