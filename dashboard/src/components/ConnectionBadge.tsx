import { Radio, WifiOff } from 'lucide-react';
import type { StreamStatus } from '../hooks/useEventStream';

export function ConnectionBadge({ stream, stale, staleFor }: { stream: StreamStatus; stale: boolean; staleFor: number | null }) {
  let cls = 'ok';
  let text = 'Live';
  if (stream === 'connecting' && staleFor === null) {
    cls = 'warn';
    text = 'Connecting';
  } else if (stale) {
    cls = 'crit';
    text = 'Stale';
  } else if (stream === 'reconnecting') {
    cls = 'warn';
    text = 'Reconnecting';
  }
  return (
    <span
      className={`badge ${cls}`}
      role="status"
      data-testid="connection"
      data-stale={stale ? 'true' : 'false'}
      title={stale ? 'No stats received for more than 4 seconds' : 'Stats stream connected'}
    >
      {cls === 'ok' ? <span className="dot pulse" aria-hidden /> : stale ? <WifiOff size={13} aria-hidden /> : <Radio size={13} aria-hidden />}
      {text}
      {stale && staleFor !== null && <span aria-hidden> · {staleFor}s</span>}
      {stale && stream === 'reconnecting' ? ' · reconnecting' : ''}
    </span>
  );
}
