import { useEffect, useRef, useState } from 'react';
import { HISTORY_WINDOW_MS, type Point } from '../lib/stats';
import { fmtInt, fmtRate } from '../lib/format';

const HEIGHT = 200;
const PAD = { top: 10, right: 48, bottom: 20, left: 44 };

const TICKS = 4;
const MIN_SPAN_MS = 60_000;

/** A step of 1, 2 or 5 × 10^n such that `TICKS` steps cover `v` (at least 1 for whole counts). */
export function niceStep(v: number, whole = false): number {
  const raw = v > 0 ? v / TICKS : 0;
  if (!(raw > 0)) return 1;
  const exp = Math.floor(Math.log10(raw));
  const base = 10 ** exp;
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (whole && m === 2.5) continue;
    const step = m * base;
    if (raw <= step) return whole ? Math.max(1, step) : step;
  }
  return 10 * base;
}

function fmtTick(v: number, step: number): string {
  if (step >= 1) return fmtInt(v);
  const decimals = Number.isInteger(Math.round(step * 1000) / 100) ? 1 : 2;
  return v.toFixed(decimals);
}

/** Time span shown: from the first sample, at least a minute, at most the history window. */
export function chartSpan(points: { t: number }[]): number {
  if (points.length < 2) return MIN_SPAN_MS;
  const span = points[points.length - 1].t - points[0].t;
  return Math.min(HISTORY_WINDOW_MS, Math.max(MIN_SPAN_MS, Math.ceil(span / 60_000) * 60_000));
}

function useWidth<T extends HTMLElement>(fallback: number) {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => {
      const w = el.clientWidth;
      if (w > 0) setWidth(w);
    };
    measure();
    if (typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width] as const;
}

function path(points: [number, number][]): string {
  let d = '';
  let pen = false;
  for (const [x, y] of points) {
    if (Number.isNaN(y)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

interface Props {
  points: Point[];
  /** stock line of one sale; all sales when null */
  saleId: string | null;
  stale: boolean;
}

/** Hand-drawn SVG chart of the last minutes: attempts/s and accepted/s (left axis), stock left (right axis). */
export function Chart({ points, saleId, stale }: Props) {
  const [ref, width] = useWidth<HTMLDivElement>(640);
  const w = Math.max(260, width);
  const innerW = w - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const span = chartSpan(points);
  const end = points.length ? points[points.length - 1].t : 0;
  const start = end - span;
  const stockOf = (p: Point) => (saleId ? (p.bySale[saleId] ?? NaN) : p.remaining);

  const rateStep = niceStep(points.reduce((m, p) => Math.max(m, p.attempts, p.accepted), 0));
  const stockStep = niceStep(points.reduce((m, p) => (Number.isNaN(stockOf(p)) ? m : Math.max(m, stockOf(p))), 0), true);
  const rateMax = rateStep * TICKS;
  const stockMax = stockStep * TICKS;
  const x = (t: number) => PAD.left + ((t - start) / span) * innerW;
  const yRate = (v: number) => PAD.top + innerH - (v / rateMax) * innerH;
  const yStock = (v: number) => (Number.isNaN(v) ? NaN : PAD.top + innerH - (v / stockMax) * innerH);

  const attempts = points.map((p) => [x(p.t), yRate(p.attempts)] as [number, number]);
  const accepted = points.map((p) => [x(p.t), yRate(p.accepted)] as [number, number]);
  const stock = points.map((p) => [x(p.t), yStock(stockOf(p))] as [number, number]);
  const area =
    attempts.length > 1
      ? `${path(attempts)}L${attempts[attempts.length - 1][0].toFixed(1)},${PAD.top + innerH}L${attempts[0][0].toFixed(1)},${PAD.top + innerH}Z`
      : '';
  const last = points[points.length - 1];
  const ticks = Array.from({ length: TICKS + 1 }, (_, i) => i / TICKS);
  // x labels: every 10 s up to a minute span, else every minute
  const xStep = span <= MIN_SPAN_MS ? 10_000 : 60_000;
  const xLabels = Math.round(span / xStep);
  const every = Math.max(1, Math.ceil(xLabels / Math.max(1, Math.floor(innerW / 56))));
  const minutes = Math.round(HISTORY_WINDOW_MS / 60000);

  return (
    <div className="chart-box">
      <div className="chart-legend" aria-hidden>
        <span>
          <i style={{ background: 'var(--chart-attempts)' }} /> attempts/s {last ? fmtRate(last.attempts) : '—'}
        </span>
        <span>
          <i style={{ background: 'var(--chart-accepted)' }} /> accepted/s {last ? fmtRate(last.accepted) : '—'}
        </span>
        <span>
          <i style={{ background: 'var(--chart-stock)' }} /> stock left {last ? fmtInt(stockOf(last)) : '—'}
        </span>
        {stale && <span style={{ color: 'var(--crit)' }}>stale</span>}
      </div>
      <div className="chart" ref={ref}>
        <svg
          width={w}
          height={HEIGHT}
          viewBox={`0 0 ${w} ${HEIGHT}`}
          role="img"
          aria-label={`Chart of up to the last ${minutes} minutes: purchase attempts per second, accepted per second and stock left`}
          data-testid="chart"
          data-points={points.length}
        >
          <defs>
            <linearGradient id="attempts-fill" x1="0" y1="0" x2="0" y2="1">
              <stop offset="0%" stopColor="var(--chart-attempts)" stopOpacity="0.28" />
              <stop offset="100%" stopColor="var(--chart-attempts)" stopOpacity="0" />
            </linearGradient>
          </defs>
          <g className="axis">
            {ticks.map((f) => {
              const y = PAD.top + innerH - f * innerH;
              return (
                <g key={f}>
                  <line className="gridline" x1={PAD.left} x2={PAD.left + innerW} y1={y} y2={y} />
                  <text x={PAD.left - 6} y={y + 3} textAnchor="end">
                    {fmtTick(rateMax * f, rateStep)}
                  </text>
                  <text x={PAD.left + innerW + 6} y={y + 3} textAnchor="start" style={{ fill: 'var(--chart-stock)' }}>
                    {fmtInt(stockMax * f)}
                  </text>
                </g>
              );
            })}
            {Array.from({ length: xLabels + 1 }, (_, i) => {
              if ((xLabels - i) % every !== 0) return null;
              const t = start + i * xStep;
              const ago = (xLabels - i) * xStep;
              const label = i === xLabels ? 'now' : xStep < 60_000 ? `-${ago / 1000}s` : `-${ago / 60_000}m`;
              return (
                <text key={i} x={x(t)} y={HEIGHT - 4} textAnchor={i === 0 ? 'start' : i === xLabels ? 'end' : 'middle'}>
                  {label}
                </text>
              );
            })}
          </g>
          {points.length === 0 ? (
            <text className="empty" x={w / 2} y={HEIGHT / 2} textAnchor="middle">
              waiting for the stats stream…
            </text>
          ) : (
            <>
              {area && <path d={area} fill="url(#attempts-fill)" stroke="none" />}
              <path d={path(stock)} fill="none" stroke="var(--chart-stock)" strokeWidth={2} strokeDasharray="5 3" />
              <path d={path(accepted)} fill="none" stroke="var(--chart-accepted)" strokeWidth={2} />
              <path d={path(attempts)} fill="none" stroke="var(--chart-attempts)" strokeWidth={2.2} />
              {last && <circle cx={x(last.t)} cy={yRate(last.attempts)} r={3.5} fill="var(--chart-attempts)" />}
            </>
          )}
        </svg>
      </div>
    </div>
  );
}
