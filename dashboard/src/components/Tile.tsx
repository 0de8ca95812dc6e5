import type { ReactNode } from 'react';

/** One figure of the live stats: a label with its icon, the figure, and a line under it. */
export function Tile({
  icon,
  label,
  children,
  sub,
  className = '',
  testId,
  wrapSub = false,
}: {
  wrapSub?: boolean;
  icon: ReactNode;
  label: string;
  children: ReactNode;
  sub?: ReactNode;
  className?: string;
  testId?: string;
}) {
  return (
    <div className={`tile ${className}`} data-testid={testId}>
      <div className="tile-label">
        {icon}
        {label}
      </div>
      {children}
      {sub !== undefined && <div className={`tile-sub${wrapSub ? ' wrap' : ''}`}>{sub}</div>}
    </div>
  );
}
