import { Zap } from 'lucide-react';

export function Brand() {
  return (
    <div className="brand">
      <div className="brand-mark" aria-hidden>
        <Zap size={18} />
      </div>
      <div>
        <h1>
          Flash<span>Sale</span>
        </h1>
        <div className="brand-sub">Cyber HUD · operator console</div>
      </div>
    </div>
  );
}
