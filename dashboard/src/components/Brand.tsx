import { Zap } from 'lucide-react';

interface Props {
  /** the line under the name */
  sub?: string;
  /** the name's element: the page's h1 (the dashboard), or plain text where the page has its own h1 (the shop) */
  titleTag?: 'h1' | 'div';
}

export function Brand({ sub = 'Cyber HUD · operator console', titleTag: Title = 'h1' }: Props) {
  return (
    <div className="brand">
      <div className="brand-mark" aria-hidden>
        <Zap size={18} />
      </div>
      <div>
        <Title className="brand-name display">
          Flash<span>Sale</span>
        </Title>
        <div className="brand-sub">{sub}</div>
      </div>
    </div>
  );
}
