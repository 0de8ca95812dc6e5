import { useId, useState, type FormEvent } from 'react';
import { LogIn, TriangleExclamationPoint } from 'lucide-react';
import { useShop } from '../ShopContext';

/** The paste box: the buyer's sign-in link or token. */
export function BuyerSignIn({ intro = true }: { intro?: boolean }) {
  const { signIn, signInMessage } = useShop();
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const shown = error ?? signInMessage;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problem = signIn(text);
    setError(problem);
    if (!problem) setText('');
  };
  return (
    <form className="buyer-signin" onSubmit={submit} noValidate data-testid="buyer-signin">
      {intro && (
        <p className="panel-sub">
          To buy, open the sign-in link you were given (<code>…/shop/#token=…</code>) or paste it here. It is kept for this
          browser session only.
        </p>
      )}
      <div className="field">
        <label htmlFor={`${id}-token`}>Sign-in link or token</label>
        <div className="inline-form">
          <input
            id={`${id}-token`}
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={text}
            onChange={(e) => setText(e.target.value)}
            aria-invalid={shown ? true : undefined}
            aria-describedby={shown ? `${id}-error` : undefined}
            data-testid="token-input"
          />
          <button type="submit" className="btn primary" data-testid="sign-in">
            <LogIn size={15} aria-hidden /> Sign in
          </button>
        </div>
      </div>
      {shown && (
        <div className="result error" role="alert" id={`${id}-error`} data-testid="signin-error">
          <TriangleExclamationPoint size={16} aria-hidden />
          <span>{shown}</span>
        </div>
      )}
    </form>
  );
}
