import { Ticket } from 'lucide-react';
import { entrantsText, type Draw, type EntryStage } from '../lib/draw';
import { Countdown } from './Countdown';

/**
 * The buyer's entry in a fair start's draw, while its answer is awaited:
 * the time left until the window closes (on the engine's clock) and how many
 * buyers entered, when the live figures say it. The words are announced by
 * the answer's live region; this box is what the eye follows.
 */
export function DrawEntry({ stage, msLeft, draw }: { stage: EntryStage; msLeft: number; draw: Draw | null | undefined }) {
  const entrants = entrantsText(draw, stage);
  return (
    <div className="draw-entry" data-testid="in-draw" data-stage={stage}>
      <p className="draw-entry-title">
        <Ticket size={18} aria-hidden />
        {stage === 'entered' ? 'You are in the draw' : 'Drawing…'}
      </p>
      {stage === 'entered' && <Countdown msLeft={msLeft} label="Draw closes in" testId="draw-countdown" compact />}
      {entrants && (
        <p className="draw-entrants" data-testid="draw-entrants" data-value={draw?.entrants} data-served={draw?.served}>
          {entrants}
        </p>
      )}
    </div>
  );
}
