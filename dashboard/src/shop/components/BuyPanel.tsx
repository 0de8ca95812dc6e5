import { LoaderCircle, Minus, Plus, ShoppingCart } from 'lucide-react';
import { useEffect, useId, useRef } from 'react';

interface Props {
  quantity: number;
  /** the most one purchase may ask for now (the limit less what the buyer holds; at least 1) */
  max: number;
  onQuantity: (q: number) => void;
  onBuy: () => void;
  /** Buy can be pressed (signed in, on sale, no intent open) */
  enabled: boolean;
  /** an intent is open */
  busy: boolean;
  /** the button's words while busy ("Buying…") */
  busyLabel?: string;
  hint: string;
}

/** The quantity (1 to the limit) and the Buy button. */
export function BuyPanel({ quantity, max, onQuantity, onBuy, enabled, busy, busyLabel = 'Buying…', hint }: Props) {
  const id = useId();
  // Buy is disabled while busy, which drops the keyboard focus: give it back when the intent ends
  const button = useRef<HTMLButtonElement>(null);
  const hadFocus = useRef(false);
  useEffect(() => {
    if (busy) return;
    if (hadFocus.current && (document.activeElement === document.body || document.activeElement === null)) button.current?.focus();
    hadFocus.current = false;
  }, [busy]);
  const set = (q: number) => onQuantity(Math.max(1, Math.min(max, Math.round(q) || 1)));
  return (
    <div className="buy-row">
      <div className="field qty">
        <label htmlFor={`${id}-qty`}>Quantity</label>
        <div className="stepper">
          <button type="button" className="btn icon" onClick={() => set(quantity - 1)} disabled={busy || quantity <= 1} aria-label="One less" data-testid="qty-less">
            <Minus size={15} aria-hidden />
          </button>
          <input
            id={`${id}-qty`}
            type="number"
            inputMode="numeric"
            min={1}
            max={max}
            step={1}
            value={quantity}
            onChange={(e) => set(Number(e.target.value))}
            disabled={busy}
            data-testid="quantity"
          />
          <button type="button" className="btn icon" onClick={() => set(quantity + 1)} disabled={busy || quantity >= max} aria-label="One more" data-testid="qty-more">
            <Plus size={15} aria-hidden />
          </button>
        </div>
      </div>
      <button
        type="button"
        className="btn primary buy"
        ref={button}
        onClick={() => {
          hadFocus.current = document.activeElement === button.current;
          onBuy();
        }}
        disabled={!enabled}
        aria-busy={busy}
        aria-describedby={`${id}-hint`}
        data-testid="buy"
      >
        {busy ? <LoaderCircle size={18} className="spin" aria-hidden /> : <ShoppingCart size={18} aria-hidden />}
        {busy ? busyLabel : quantity > 1 ? `Buy ${quantity} units` : 'Buy'}
      </button>
      <p className="buy-hint" id={`${id}-hint`} data-testid="buy-hint">
        {hint}
      </p>
    </div>
  );
}
