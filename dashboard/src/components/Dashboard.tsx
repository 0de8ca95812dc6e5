import { useCallback } from 'react';
import { LogOut } from 'lucide-react';
import { REFUSED } from '../lib/auth';
import { fmtUptime } from '../lib/format';
import type { Theme } from '../lib/theme';
import type { Sale } from '../lib/types';
import { useApi } from '../hooks/useApi';
import { useCurrentSale } from '../hooks/useCurrentSale';
import { useHealth } from '../hooks/useHealth';
import { useLiveStream } from '../hooks/useLiveStream';
import { useSaleSelection } from '../hooks/useSaleSelection';
import { useSales } from '../hooks/useSales';
import { useStaleness } from '../hooks/useStaleness';
import { Brand } from './Brand';
import { ThemeToggle } from './ThemeToggle';
import { StatsPanel } from './StatsPanel';
import { HealthPanel } from './HealthPanel';
import { EventLog } from './EventLog';
import { ControlCenter } from './ControlCenter';
import { ConnectionBadge } from './ConnectionBadge';

interface Props {
  token: string;
  onSignOut: (message?: string) => void;
  theme: Theme;
  onToggleTheme: () => void;
}

/** The signed-in page: lays out the panels; the data comes from the hooks in `src/hooks/`. */
export function Dashboard({ token, onSignOut, theme, onToggleTheme }: Props) {
  const refused = useCallback(() => onSignOut(REFUSED), [onSignOut]);
  const api = useApi(token, refused);
  const { sales, error: salesError, refreshSoon, upsert } = useSales(api);
  const health = useHealth(api);
  const { stream, stats, feed, dispatchFeed } = useLiveStream(api, token, { onRefused: refused, onSalesChanged: refreshSoon });
  const { now, stale, staleFor } = useStaleness(stats);
  const [selectedId, select] = useSaleSelection(sales, stats.latest);
  const currentSale = useCurrentSale(sales, stats.latest, selectedId);
  const onSaleCreated = useCallback(
    (sale: Sale) => {
      upsert(sale);
      select(sale.id);
    },
    [upsert, select],
  );

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
            onSelect={select}
            sale={currentSale}
            salesError={salesError}
            now={now}
          />
          <EventLog feed={feed} dispatch={dispatchFeed} sales={sales} />
          <HealthPanel health={health.health} error={health.error} checkedAt={health.checkedAt} />
        </div>
        <div className="col">
          <ControlCenter api={api} sale={currentSale} onSaleChanged={upsert} onSaleCreated={onSaleCreated} />
        </div>
      </main>
      <footer className="footer">FlashSale engine · operator console · data pushed live over SSE</footer>
    </>
  );
}
