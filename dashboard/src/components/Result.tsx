import { CircleCheck, CircleX, LoaderCircle } from 'lucide-react';
import type { ActionResult } from '../hooks/useAction';

export function Result({ result, testId }: { result: ActionResult; testId?: string }) {
  if (result.kind === 'idle') return null;
  const Icon = result.kind === 'ok' ? CircleCheck : result.kind === 'error' ? CircleX : LoaderCircle;
  return (
    <div
      className={`result ${result.kind}`}
      role={result.kind === 'error' ? 'alert' : 'status'}
      data-testid={testId}
      data-kind={result.kind}
    >
      <Icon size={15} className={result.kind === 'busy' ? 'spin' : undefined} aria-hidden />
      <span>
        {result.text}
        {result.code && result.kind === 'error' ? (
          <>
            {' '}
            <code>({result.code})</code>
          </>
        ) : null}
      </span>
    </div>
  );
}
