import { Cpu, CreditCard, Database, HeartPulse, Layers, Network, Server, ShoppingCart, Boxes, MemoryStick } from 'lucide-react';
import type { ReactNode } from 'react';
import { orderedComponents } from '../lib/health';
import type { Health } from '../lib/types';

const ICONS: Record<string, ReactNode> = {
  gateway: <Network size={16} aria-hidden />,
  inventory: <Boxes size={16} aria-hidden />,
  order: <ShoppingCart size={16} aria-hidden />,
  product: <Server size={16} aria-hidden />,
  redis: <Database size={16} aria-hidden />,
  rabbitmq: <Layers size={16} aria-hidden />,
  postgres: <Database size={16} aria-hidden />,
  sqlite: <Database size={16} aria-hidden />,
  memory_stock: <MemoryStick size={16} aria-hidden />,
  payments: <CreditCard size={16} aria-hidden />,
};

function cls(status: string) {
  return status === 'ok' ? 'ok' : status === 'degraded' ? 'degraded' : 'down';
}
function badge(status: string) {
  return status === 'ok' ? 'ok' : status === 'degraded' ? 'warn' : 'crit';
}

export function HealthPanel({ health, error, checkedAt }: { health: Health | null; error: string | null; checkedAt: number }) {
  const rows = orderedComponents(health);
  return (
    <section className="panel order-4" aria-labelledby="health-title" data-testid="health">
      <div className="panel-head">
        <h2 id="health-title">
          <HeartPulse size={16} aria-hidden /> Service health
        </h2>
        <span className="spacer" />
        {health && (
          <span className={`badge ${badge(health.status)}`} data-testid="health-overall">
            {health.status}
            {health.mode ? ` · ${health.mode}` : ''}
          </span>
        )}
      </div>
      {error && (
        <div className="result error" role="alert">
          Health check failed: {error}
        </div>
      )}
      {!health && !error && <p className="muted">Checking…</p>}
      <ul className="health-list">
        {rows.map((r) => (
          <li key={r.name} className={`health-row ${cls(r.status)}`} data-testid={`health-${r.name}`} data-status={r.status}>
            {ICONS[r.name] ?? <Cpu size={16} aria-hidden />}
            <div>
              <div className="name">{r.label}</div>
              {r.detail && <div className="detail">{r.detail}</div>}
            </div>
            <span className={`badge ${badge(r.status)}`}>{r.status}</span>
          </li>
        ))}
      </ul>
      {checkedAt > 0 && (
        <p className="muted" style={{ margin: '8px 0 0', fontSize: 12 }}>
          checked {new Date(checkedAt).toLocaleTimeString('en-GB', { hour12: false })} · every 5 s
        </p>
      )}
    </section>
  );
}
