/**
 * Reads `name=value` from the URL fragment and removes it from the address
 * bar (history.replaceState, other fragment parameters kept), so a secret
 * handed over in a link (`#admin_token=…`, `#token=…`) does not stay in the
 * address bar, the history or a bookmark. Returns the trimmed value, or null
 * when the fragment has no such parameter (or an empty one).
 */
export function takeFromFragment(name: string, loc: Location = window.location, hist: History = window.history): string | null {
  const hash = loc.hash.startsWith('#') ? loc.hash.slice(1) : loc.hash;
  if (!hash) return null;
  const params = new URLSearchParams(hash);
  const value = params.get(name);
  if (value === null) return null;
  params.delete(name);
  const rest = params.toString();
  hist.replaceState(hist.state, '', loc.pathname + loc.search + (rest ? `#${rest}` : ''));
  return value.trim() || null;
}
