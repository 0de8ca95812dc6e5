import { useState } from 'react';
import { CirclePlay, Flag, Pause, Play, Plus, RefreshCw, Rocket, SlidersHorizontal, Square, Warehouse } from 'lucide-react';
import type { Api } from '../lib/api';
import type { Sale } from '../lib/types';
import { useAction } from '../hooks/useAction';
import { Result } from './Result';
import { StockForm } from './StockForm';
import { StampedeForm } from './StampedeForm';
import { CreateSaleForm } from './CreateSaleForm';
import { StatusBadge } from './StatsPanel';

interface Props {
  api: Api;
  sale: Sale | null;
  onSaleChanged: (sale: Sale) => void;
  onSaleCreated: (sale: Sale) => void;
}

type Transition = 'start' | 'pause' | 'resume' | 'end';

const PAST: Record<Transition, string> = { start: 'started', pause: 'paused', resume: 'resumed', end: 'ended' };

export function ControlCenter({ api, sale, onSaleChanged, onSaleCreated }: Props) {
  const transition = useAction();
  const flush = useAction();
  const [confirmEnd, setConfirmEnd] = useState(false);
  const [confirmFlush, setConfirmFlush] = useState(false);
  const status = sale?.status;

  const go = async (action: Transition) => {
    if (!sale) return;
    setConfirmEnd(false);
    const updated = await transition.run(
      `${action[0].toUpperCase()}${action.slice(1)}…`,
      () => api.transition(sale.id, action),
      (s) => `Sale “${s.name}” ${PAST[action]}: now ${s.status.replace('_', ' ')}.`,
    );
    if (updated) onSaleChanged(updated);
  };

  const doFlush = async () => {
    setConfirmFlush(false);
    await flush.run('Flushing the cache…', () => api.flushCache(), (r) => `Cache flushed and rebuilt from the store (${r.sales} sale${r.sales === 1 ? '' : 's'}).`);
  };

  return (
    <section className="panel order-2" aria-labelledby="control-title" data-testid="control-center">
      <div className="panel-head">
        <h2 id="control-title">
          <SlidersHorizontal size={16} aria-hidden /> Control center
        </h2>
      </div>

      <div className="section" aria-labelledby="cc-sale">
        <h3 id="cc-sale" className="display">
          <CirclePlay size={13} aria-hidden /> Sale session
        </h3>
        {sale ? (
          <p style={{ margin: '0 0 8px', display: 'flex', gap: 8, alignItems: 'center', flexWrap: 'wrap' }}>
            <b data-testid="cc-sale-name">{sale.name}</b>
            <StatusBadge status={sale.status} />
          </p>
        ) : (
          <p className="muted" style={{ margin: '0 0 8px' }}>
            No sale selected. Create one below.
          </p>
        )}
        <div className="btn-row grid4">
          <button type="button" className="btn primary" disabled={!sale || status !== 'scheduled' || transition.busy} onClick={() => go('start')} data-testid="sale-start">
            <Play size={14} aria-hidden /> Start
          </button>
          <button type="button" className="btn" disabled={!sale || status !== 'active' || transition.busy} onClick={() => go('pause')} data-testid="sale-pause">
            <Pause size={14} aria-hidden /> Pause
          </button>
          <button type="button" className="btn" disabled={!sale || status !== 'paused' || transition.busy} onClick={() => go('resume')} data-testid="sale-resume">
            <Play size={14} aria-hidden /> Resume
          </button>
          <button
            type="button"
            className="btn danger"
            disabled={!sale || status === 'ended' || transition.busy}
            onClick={() => setConfirmEnd(true)}
            data-testid="sale-end"
          >
            <Square size={13} aria-hidden /> End
          </button>
        </div>
        {confirmEnd && sale && (
          <div className="confirm" role="alertdialog" aria-labelledby="confirm-end-text">
            <p id="confirm-end-text">End “{sale.name}” for good? Buyers are turned away from then on.</p>
            <div className="btn-row">
              <button type="button" className="btn danger solid" onClick={() => go('end')} autoFocus data-testid="sale-end-confirm">
                <Flag size={13} aria-hidden /> End the sale
              </button>
              <button type="button" className="btn" onClick={() => setConfirmEnd(false)}>
                Cancel
              </button>
            </div>
          </div>
        )}
        <Result result={transition.result} testId="transition-result" />
      </div>

      <div className="section" aria-labelledby="cc-stampede">
        <h3 id="cc-stampede" className="display">
          <Rocket size={13} aria-hidden /> Launch stampede
        </h3>
        <StampedeForm sale={sale} launch={(id, body) => api.stampede(id, body)} />
      </div>

      <div className="section" aria-labelledby="cc-stock">
        <h3 id="cc-stock" className="display">
          <Warehouse size={13} aria-hidden /> Stock
        </h3>
        <StockForm sale={sale} change={(id, add) => api.changeStock(id, add)} onChanged={onSaleChanged} />
      </div>

      <div className="section" aria-labelledby="cc-create">
        <h3 id="cc-create" className="display">
          <Plus size={13} aria-hidden /> New sale
        </h3>
        <CreateSaleForm create={(body) => api.createSale(body)} onCreated={onSaleCreated} />
      </div>

      <div className="section" aria-labelledby="cc-cache">
        <h3 id="cc-cache" className="display">
          <RefreshCw size={13} aria-hidden /> Cache
        </h3>
        {!confirmFlush ? (
          <button type="button" className="btn danger" onClick={() => setConfirmFlush(true)} disabled={flush.busy} data-testid="flush">
            <RefreshCw size={14} aria-hidden /> Flush cache
          </button>
        ) : (
          <div className="confirm" role="alertdialog" aria-labelledby="confirm-flush-text">
            <p id="confirm-flush-text">Flush the cache? Stock copies are rebuilt from the store and the order ledger; no unit is lost or doubled.</p>
            <div className="btn-row">
              <button type="button" className="btn danger solid" onClick={doFlush} autoFocus data-testid="flush-confirm">
                <RefreshCw size={13} aria-hidden /> Flush now
              </button>
              <button type="button" className="btn" onClick={() => setConfirmFlush(false)} data-testid="flush-cancel">
                Cancel
              </button>
            </div>
          </div>
        )}
        <Result result={flush.result} testId="flush-result" />
      </div>
    </section>
  );
}
