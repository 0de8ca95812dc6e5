import { useCallback, useEffect, useState } from 'react';
import {
  clearBuyerToken,
  decodeBuyer,
  loadBuyerToken,
  storeBuyerToken,
  takeBuyerTokenFromFragment,
  tokenFromPaste,
  tokenProblem,
  type Buyer,
} from '../lib/token';

export interface BuyerState {
  buyer: Buyer | null;
  /** why the last token was not taken, or why the buyer was signed out */
  message: string | null;
}

function fromToken(token: string | null, message: string | null = null): BuyerState {
  if (!token) return { buyer: null, message };
  const problem = tokenProblem(token);
  if (problem) {
    clearBuyerToken();
    return { buyer: null, message: problem };
  }
  storeBuyerToken(token);
  return { buyer: decodeBuyer(token), message: null };
}

/**
 * The signed-in buyer: from the link's `#token=` (moved to sessionStorage
 * and out of the address bar), else from this session, else signed out.
 * The same link opened again in this tab (only the fragment changes) signs
 * in that buyer.
 */
export function useBuyer() {
  const [state, setState] = useState<BuyerState>(() => fromToken(takeBuyerTokenFromFragment() ?? loadBuyerToken()));
  useEffect(() => {
    const onHash = () => {
      const token = takeBuyerTokenFromFragment();
      if (token) setState(fromToken(token));
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  /** Signs in with a pasted token or link: null when done, else why not. */
  const signIn = useCallback((pasted: string): string | null => {
    const token = tokenFromPaste(pasted);
    if (!token) return 'Paste your sign-in link or token.';
    const next = fromToken(token);
    setState(next);
    return next.buyer ? null : next.message;
  }, []);
  const signOut = useCallback((message: string | null = null) => {
    clearBuyerToken();
    setState({ buyer: null, message });
  }, []);
  return { ...state, signIn, signOut };
}
