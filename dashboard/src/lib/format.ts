const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDec = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function fmtInt(n: number | undefined | null): string {
  return typeof n === 'number' && Number.isFinite(n) ? intFmt.format(n) : '—';
}

/** Rates: one decimal below 100, whole above. */
export function fmtRate(n: number | undefined | null): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  return n < 100 ? oneDec.format(n) : intFmt.format(n);
}

export function fmtMs(n: number | undefined | null): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  if (n < 10) return n.toFixed(2);
  if (n < 100) return n.toFixed(1);
  return intFmt.format(n);
}

export function fmtPrice(cents: number): string {
  return (cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function fmtClock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleTimeString('en-GB', { hour12: false });
}

export function fmtDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString('en-GB', { hour12: false, dateStyle: 'short', timeStyle: 'short' });
}

export function fmtUptime(seconds: number | undefined): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

export function statusLabel(status: string): string {
  return status.replace(/_/g, ' ');
}

/** A payment window: 0 → "none", 90 → "1 min 30 s", 600 → "10 min", 5400 → "1 h 30 min". */
export function fmtDuration(seconds: number | undefined | null): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.floor(seconds);
  if (s === 0) return 'none';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const parts: string[] = [];
  if (h > 0) parts.push(`${h} h`);
  if (m > 0) parts.push(`${m} min`);
  if (sec > 0) parts.push(`${sec} s`);
  return parts.join(' ');
}
