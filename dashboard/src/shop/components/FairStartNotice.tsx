import { Shuffle } from 'lucide-react';
import { drawResultText, fairStartText, windowTime, type Draw, type DrawWindow } from '../lib/draw';

/**
 * Says that the sale opens with a draw (a fair start): who is entered, until
 * when, and that the order is random; once the window closed, how many were
 * drawn. Nothing for a sale without a fair start.
 */
export function FairStartNotice({ win: w, draw, serverNowMs }: { win: DrawWindow | null; draw: Draw | null | undefined; serverNowMs: number }) {
  if (!w) return null;
  const t = windowTime(w, serverNowMs);
  const text = t === 'closed' || (draw && draw.phase !== 'open') ? drawResultText(draw) : fairStartText(w, serverNowMs);
  if (!text) return null;
  return (
    <p className="fair-start" data-testid="fair-start" data-window={t} data-draw-phase={draw?.phase}>
      <Shuffle size={16} aria-hidden />
      <span>{text}</span>
    </p>
  );
}
