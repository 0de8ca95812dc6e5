import type { SalePhase } from '../lib/countdown';

const WORDS: Record<SalePhase, string> = {
  open: 'On sale',
  draw: 'Draw open',
  upcoming: 'Starts soon',
  waiting: 'Not started',
  sold_out: 'Sold out',
  paused: 'Paused',
  ended: 'Ended',
};
const TONE: Record<SalePhase, string> = {
  open: 'ok',
  draw: 'accent',
  upcoming: 'accent',
  waiting: 'accent',
  sold_out: 'crit',
  paused: 'warn',
  ended: '',
};

/** A sale's state for a buyer; `data-status` is the engine's status. */
export function StatusBadge({ phase, status, testId = 'sale-status' }: { phase: SalePhase; status: string; testId?: string }) {
  return (
    <span className={`badge ${TONE[phase]}`} data-testid={testId} data-status={status} data-phase={phase}>
      <span className={`dot${phase === 'open' || phase === 'draw' ? ' pulse' : ''}`} aria-hidden />
      {WORDS[phase]}
    </span>
  );
}

const ORDER_TONE: Record<string, string> = { pending: 'accent', confirmed: 'ok', paid: 'ok', expired: 'warn', cancelled: '', void: 'crit' };

export function OrderStatusBadge({ status, awaitingPayment }: { status: string; awaitingPayment?: boolean }) {
  const label = status === 'confirmed' && awaitingPayment ? 'awaiting payment' : status;
  return (
    <span className={`badge ${ORDER_TONE[status] ?? ''}`} data-testid="order-status" data-status={status}>
      {label}
    </span>
  );
}
