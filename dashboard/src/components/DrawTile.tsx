import { useEffect, useRef, useState } from 'react';
import { Check, Copy, Shuffle } from 'lucide-react';
import { drawPhaseLabel, drawPhaseTone, fairStartTerms, isSeed, servedPct } from '../lib/draw';
import { fmtInt } from '../lib/format';
import type { Draw, Sale } from '../lib/types';
import { Tile } from './Tile';

/**
 * The selected sale's fair-start draw, once it has one (a buyer entered, or
 * its window closed): its phase, the entrants, the entries served, and the
 * seed (with the entrants, anyone recomputes the drawn order). Nothing for a
 * sale without a draw.
 */
export function DrawTile({ draw }: { draw: Draw | null | undefined }) {
  if (!draw) return null;
  const pct = servedPct(draw);
  return (
    <Tile
      icon={<Shuffle size={14} aria-hidden />}
      label="Fair start draw"
      className="span-all draw-tile"
      testId="tile-draw"
      wrapSub
      sub={<SeedLine seed={draw.seed} />}
    >
      <div className="draw-row">
        <div className="figure" data-testid="draw-entrants" data-value={draw.entrants}>
          {fmtInt(draw.entrants)}
          <small>{draw.entrants === 1 ? 'entrant' : 'entrants'}</small>
        </div>
        <span className={`badge ${drawPhaseTone(draw.phase)}`} data-testid="draw-phase" data-phase={draw.phase}>
          {drawPhaseLabel(draw.phase)}
        </span>
        <span className="draw-served" data-testid="draw-served" data-value={draw.served} data-entrants={draw.entrants}>
          served <b>{fmtInt(draw.served)}</b> / <b>{fmtInt(draw.entrants)}</b>
        </span>
      </div>
      <div
        className="meter"
        role="meter"
        aria-label="Draw entries served"
        aria-valuemin={0}
        aria-valuemax={draw.entrants}
        aria-valuenow={draw.served}
        aria-valuetext={`${draw.served} of ${draw.entrants} entries served`}
      >
        <span style={{ width: `${pct}%` }} />
      </div>
    </Tile>
  );
}

/** The seed, in full (monospace, cut with an ellipsis where narrow, whole in its title) with a copy button. */
function SeedLine({ seed }: { seed: string | null | undefined }) {
  if (!isSeed(seed)) return <span data-testid="draw-seed-pending">seed: drawn when the window closes</span>;
  return <Seed seed={seed} />;
}

function Seed({ seed }: { seed: string }) {
  const code = useRef<HTMLElement>(null);
  const [said, setSaid] = useState('');
  useEffect(() => {
    if (!said) return;
    const t = setTimeout(() => setSaid(''), 2500);
    return () => clearTimeout(t);
  }, [said]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(seed);
      setSaid('Seed copied.');
    } catch {
      // no clipboard (not a secure context, or refused): select it for Ctrl+C
      const range = document.createRange();
      if (code.current) range.selectNodeContents(code.current);
      window.getSelection()?.removeAllRanges();
      window.getSelection()?.addRange(range);
      setSaid('Seed selected: press Ctrl+C to copy it.');
    }
  };
  return (
    <span className="seed-line">
      <span className="seed-label">seed</span>
      <code className="seed" ref={code} title={seed} data-testid="draw-seed" data-seed={seed}>
        {seed}
      </code>
      <button type="button" className="btn icon small" onClick={copy} aria-label="Copy the draw's seed" title="Copy the seed" data-testid="draw-seed-copy">
        {said === 'Seed copied.' ? <Check size={13} aria-hidden /> : <Copy size={13} aria-hidden />}
      </button>
      <span className="sr-only" role="status">
        {said}
      </span>
    </span>
  );
}

/** The sale's fair start, next to its other settings: "Fair start 5 s before the start → 3 s after" (nothing without one). */
export function FairStartTerms({ sale }: { sale: Pick<Sale, 'prequeue_seconds' | 'fair_start_seconds'> }) {
  const terms = fairStartTerms(sale.prequeue_seconds, sale.fair_start_seconds);
  if (!terms) return null;
  return (
    <span data-testid="sale-fair-start" data-prequeue={sale.prequeue_seconds} data-fair-start={sale.fair_start_seconds}>
      Fair start <b>{terms}</b>
    </span>
  );
}
