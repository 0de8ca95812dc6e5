import { countdownWords, fmtCountdown } from '../lib/countdown';

/** Time until the sale starts, or another moment of it (already on the engine's clock); `compact`: smaller, `MM:SS` under an hour. */
export function Countdown({ msLeft, label = 'Starts in', testId = 'countdown', compact = false }: { msLeft: number; label?: string; testId?: string; compact?: boolean }) {
  return (
    <div
      className={`countdown${compact ? ' compact' : ''}`}
      role="timer"
      aria-label={`${label} ${countdownWords(msLeft)}`}
      data-testid={testId}
      data-ms={Math.max(0, Math.round(msLeft))}
    >
      <span className="countdown-label" aria-hidden>
        {label}
      </span>
      <span className="countdown-digits" aria-hidden>
        {fmtCountdown(msLeft, compact)}
      </span>
    </div>
  );
}
