import { fmtInt } from '../../lib/format';

/** Units left of the stock: a figure and a bar, exposed as a meter. */
export function UnitsLeft({ remaining, stock, compact = false }: { remaining: number; stock: number; compact?: boolean }) {
  const pct = stock > 0 ? Math.max(0, Math.min(100, (remaining / stock) * 100)) : 0;
  const text = `${fmtInt(remaining)} of ${fmtInt(stock)} left`;
  return (
    <div className={`units${compact ? ' compact' : ''}${remaining === 0 ? ' none' : pct <= 20 ? ' low' : ''}`}>
      <div className="units-figure">
        <b data-testid="units-left" data-value={remaining}>
          {fmtInt(remaining)}
        </b>{' '}
        <span>left of {fmtInt(stock)}</span>
      </div>
      <div
        className="meter units-bar"
        role="meter"
        aria-label="Units left"
        aria-valuemin={0}
        aria-valuemax={stock}
        aria-valuenow={remaining}
        aria-valuetext={text}
      >
        <span style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
