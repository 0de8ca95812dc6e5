// The shop's pages, from the path: `/shop/` lists the sales, `/shop/sale/<id>`
// shows one. The engine serves the shop's index.html for every `/shop/…`
// path that is not a file, so these are plain links, followed without a
// reload (history.pushState).
export const SHOP_BASE = '/shop/';

export type Route = { page: 'list' } | { page: 'sale'; id: string } | { page: 'not_found'; path: string };

export function parseRoute(pathname: string): Route {
  const p = pathname.replace(/\/{2,}/g, '/');
  if (p === '/shop' || p === '/shop/' || p === '/shop/index.html') return { page: 'list' };
  const m = p.match(/^\/shop\/sale\/([^/]+)\/?$/);
  if (m) {
    try {
      return { page: 'sale', id: decodeURIComponent(m[1]) };
    } catch {
      return { page: 'not_found', path: pathname };
    }
  }
  return { page: 'not_found', path: pathname };
}

export function saleHref(id: string): string {
  return `${SHOP_BASE}sale/${encodeURIComponent(id)}`;
}
