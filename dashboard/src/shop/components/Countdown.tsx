import { countdownWords, fmtCountdown } from '../lib/countdown';

/** Time until the sale starts (already on the engine's clock). */
export function Countdown({ msLeft, label = 'Starts in' }: { msLeft: number; label?: string }) {
  return (
    <div className="countdown" role="timer" aria-label={`${label} ${countdownWords(msLeft)}`} data-testid="countdown" data-ms={Math.max(0, Math.round(msLeft))}>
      <span className="countdown-label" aria-hidden>
        {label}
      </span>
      <span className="countdown-digits" aria-hidden>
        {fmtCountdown(msLeft)}
      </span>
    </div>
  );
}
