import { CircleCheck, CircleX, LoaderCircle, TriangleExclamationPoint } from 'lucide-react';
import type { Words } from '../lib/answers';

export interface AnswerData {
  /** the intent's phase, or `local` for a refusal the page made itself */
  phase: string;
  code?: string;
  orderId?: string;
  status?: string;
  replayed?: boolean;
  /** the buyer's entry in a fair start's draw, while awaited: `entered` or `drawing` */
  draw?: string;
}

const ICONS = { ok: CircleCheck, busy: LoaderCircle, warn: TriangleExclamationPoint, error: CircleX };

/**
 * The answer to the buyer's Buy, announced to screen readers: a polite live
 * region, always in the page (a region added with its text is not read),
 * whose whole sentence is read again whenever it changes.
 */
export function Answer({ words, data }: { words: Words | null; data: AnswerData }) {
  const Icon = words ? ICONS[words.tone] : null;
  return (
    <div
      className="answer"
      role="status"
      aria-live="polite"
      aria-atomic="true"
      data-testid="answer"
      data-phase={data.phase}
      data-code={data.code}
      data-order-id={data.orderId}
      data-status={data.status}
      data-replayed={data.replayed ? 'true' : undefined}
      data-draw={data.draw}
    >
      {words && Icon && (
        <div className={`result ${words.tone === 'ok' ? 'ok' : words.tone === 'busy' ? 'busy' : words.tone === 'warn' ? 'warn' : 'error'}`}>
          <Icon size={16} className={words.tone === 'busy' ? 'spin' : undefined} aria-hidden />
          <span>
            <b className="answer-title">{words.title}.</b> <span data-testid="answer-text">{words.text}</span>
          </span>
        </div>
      )}
    </div>
  );
}
