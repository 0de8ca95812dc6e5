import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import { LogOut } from 'lucide-react';
import { Api, ApiError } from '../lib/api';
import { feedReducer, initialFeed } from '../lib/events';
import { initialStats, isStale, statsReducer } from '../lib/stats';
import type { Theme } from '../lib/theme';
import type { Health, LogEvent, Sale, Stats } from '../lib/types';
import { useEventStream } from '../lib/useEventStream';
import { fmtUptime } from '../lib/format';
import { Brand } from './Brand';
import { ThemeToggle } from './ThemeToggle';
import { StatsPanel } from './StatsPanel';
import { HealthPanel } from './HealthPanel';
import { EventLog } from './EventLog';
import { ControlCenter } from './ControlCenter';
import { ConnectionBadge } from './ConnectionBadge';
import { REFUSED } from '../lib/auth';

const SALE_KEY = 'flashsale.selectedSale';

interface Props {
  token: string;
  onSignOut: (message?: string) => void;
  theme: Theme;
  onToggleTheme: () => void;
}

/** Picks the sale to show when none is chosen: an active one, else the newest. */
export function defaultSale(sales: Sale[]): string | null {
  if (sales.length === 0) return null;
  const active = sales.find((s) => s.status === 'active');
  if (active) return active.id;
  return [...sales].sort((a, b) => (a.created_at < b.created_at ? 1 : -1))[0].id;
}

export function Dashboard({ token, onSignOut, theme, onToggleTheme }: Props) {
  const tokenRef = useRef(token);
  tokenRef.current = token;
  const refused = useCallback(() => onSignOut(REFUSED), [onSignOut]);
  const api = useMemo(() => new Api(() => tokenRef.current, refused), [refused]);

  const [stats, dispatchStats] = useReducer(statsReducer, initialStats);
  const [feed, dispatchFeed] = useReducer(feedReducer, undefined, () => initialFeed());
  const [now, setNow] = useState(() => Date.now());
  const [sales, setSales] = useState<Sale[]>([]);
  const [salesError, setSalesError] = useState<string | null>(null);
  const [selectedId, setSelectedId] = useState<string | null>(() => {
    try {
      return localStorage.getItem(SALE_KEY);
    } catch {
      return null;
    }
  });
  const [health, setHealth] = useState<Health | null>(null);
  const [healthError, setHealthError] = useState<string | null>(null);
  const [healthAt, setHealthAt] = useState(0);

  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, []);

  // ---- sales list (public endpoint), refreshed on a timer and on relevant events
  const refreshSales = useCallback(async () => {
    try {
      const list = await api.listSales();
      if (Array.isArray(list)) setSales(list);
      setSalesError(null);
    } catch (e) {
      setSalesError(e instanceof ApiError ? e.message : 'Cannot load sales');
    }
  }, [api]);
  useEffect(() => {
    refreshSales();
    const id = setInterval(refreshSales, 5000);
    return () => clearInterval(id);
  }, [refreshSales]);
  const refreshSoon = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const scheduleSalesRefresh = useCallback(() => {
    clearTimeout(refreshSoon.current);
    refreshSoon.current = setTimeout(refreshSales, 250);
  }, [refreshSales]);
  useEffect(() => () => clearTimeout(refreshSoon.current), []);

  // ---- health (public endpoint), polled
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const h = await api.health();
        if (stop) return;
        setHealth(h);
        setHealthError(null);
      } catch (e) {
        if (stop) return;
        setHealthError(e instanceof ApiError ? e.message : 'Health check failed');
      }
      if (!stop) setHealthAt(Date.now());
    };
    poll();
    const id = setInterval(poll, 5000);
    return () => {
      stop = true;
      clearInterval(id);
    };
  }, [api]);

  // ---- live stream
  const onStats = useCallback((s: Stats) => dispatchStats({ type: 'stats', stats: s, at: Date.now() }), []);
  const onLogs = useCallback(
    (events: LogEvent[]) => {
      dispatchFeed({ type: 'events', events });
      if (events.some((e) => ['sale_state', 'stock_changed', 'sold_out', 'admin_action'].includes(e.kind))) {
        scheduleSalesRefresh();
      }
    },
    [scheduleSalesRefresh],
  );
  const onFailure = useCallback(async () => {
    try {
      await api.stats(tokenRef.current);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        refused();
        return false;
      }
      return true; // engine unreachable: keep retrying
    }
  }, [api, refused]);
  const stream = useEventStream(token, { onStats, onLogs, onFailure });
  // after a reconnect, catch up with the sales list at once
  useEffect(() => {
    if (stream === 'live') refreshSales();
  }, [stream, refreshSales]);

  // ---- selection
  const saleIds = useMemo(() => {
    const ids = new Set(sales.map((s) => s.id));
    for (const s of stats.latest?.sales ?? []) ids.add(s.sale_id);
    return ids;
  }, [sales, stats.latest]);
  useEffect(() => {
    if (selectedId && saleIds.has(selectedId)) return;
    if (selectedId && saleIds.size === 0) return; // not loaded yet
    const next = defaultSale(sales);
    if (next !== selectedId) setSelectedId(next);
  }, [saleIds, sales, selectedId]);
  useEffect(() => {
    try {
      if (selectedId) localStorage.setItem(SALE_KEY, selectedId);
    } catch {
      /* ignore */
    }
  }, [selectedId]);

  const selectedSale = sales.find((s) => s.id === selectedId) ?? null;
  const liveSale = stats.latest?.sales?.find((s) => s.sale_id === selectedId);
  // the stream's figures are fresher than the last list fetch
  const currentSale: Sale | null = selectedSale
    ? liveSale
      ? { ...selectedSale, status: liveSale.status, stock: liveSale.stock, remaining: liveSale.remaining, sold: liveSale.sold }
      : selectedSale
    : null;

  const onSaleChanged = useCallback(
    (sale: Sale) => {
      setSales((list) => {
        const i = list.findIndex((s) => s.id === sale.id);
        if (i === -1) return [...list, sale];
        const copy = list.slice();
        copy[i] = sale;
        return copy;
      });
      scheduleSalesRefresh();
    },
    [scheduleSalesRefresh],
  );
  const onSaleCreated = useCallback(
    (sale: Sale) => {
      onSaleChanged(sale);
      setSelectedId(sale.id);
    },
    [onSaleChanged],
  );

  const stale = isStale(stats, now);
  const staleFor = stats.receivedAt ? Math.max(0, Math.round((now - stats.receivedAt) / 1000)) : null;

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Brand />
        <span className="topbar-spacer" />
        <div className="topbar-group">
          {stats.latest && (
            <span className="badge accent" title="Engine mode" data-testid="engine-mode">
              {stats.latest.mode}
            </span>
          )}
          {stats.latest && <span className="badge" title="Engine uptime">up {fmtUptime(stats.latest.uptime_seconds)}</span>}
          <ConnectionBadge stream={stream} stale={stale} staleFor={staleFor} />
          <ThemeToggle theme={theme} onToggle={onToggleTheme} />
          <button type="button" className="btn" onClick={() => onSignOut()} data-testid="sign-out" aria-label="Sign out" title="Sign out">
            <LogOut size={15} aria-hidden /> <span className="hide-narrow">Sign out</span>
          </button>
        </div>
      </header>
      <main id="main" className="layout" tabIndex={-1}>
        <div className="col">
          <StatsPanel
            stats={stats}
            stale={stale}
            sales={sales}
            selectedId={selectedId}
            onSelect={setSelectedId}
            sale={currentSale}
            salesError={salesError}
            now={now}
          />
          <EventLog feed={feed} dispatch={dispatchFeed} sales={sales} />
          <HealthPanel health={health} error={healthError} checkedAt={healthAt} />
        </div>
        <div className="col">
          <ControlCenter api={api} sale={currentSale} onSaleChanged={onSaleChanged} onSaleCreated={onSaleCreated} />
        </div>
      </main>
      <footer className="footer">FlashSale engine · operator console · data pushed live over SSE</footer>
    </>
  );
}
