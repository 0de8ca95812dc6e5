import { useState, type FormEvent } from 'react';
import { KeyRound, LoaderCircle, LogIn, TriangleExclamationPoint } from 'lucide-react';
import { Brand } from './Brand';
import { ThemeToggle } from './ThemeToggle';
import type { Theme } from '../lib/theme';

interface Props {
  checking: boolean;
  message?: string;
  onSignIn: (token: string) => Promise<string | null>;
  theme: Theme;
  onToggleTheme: () => void;
}

export function SignIn({ checking, message, onSignIn, theme, onToggleTheme }: Props) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const shown = error ?? message ?? null;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) {
      setError('Enter the admin token.');
      return;
    }
    setBusy(true);
    setError(null);
    const problem = await onSignIn(t);
    setBusy(false);
    if (problem) setError(problem);
  };

  return (
    <main className="signin">
      <div className="panel signin-card">
        <div className="panel-head">
          <Brand />
          <span className="spacer" />
          <ThemeToggle theme={theme} onToggle={onToggleTheme} />
        </div>
        {checking ? (
          <p role="status">
            <LoaderCircle size={16} className="spin" aria-hidden /> Checking the admin token…
          </p>
        ) : (
          <form onSubmit={submit} noValidate aria-labelledby="signin-title">
            <h2 id="signin-title" className="display" style={{ fontSize: 14, color: 'var(--accent)' }}>
              <KeyRound size={15} aria-hidden /> Operator sign-in
            </h2>
            <p>
              Paste the admin token, or open the link printed by the engine at start-up:{' '}
              <code>http://HOST:PORT/#admin_token=…</code>. The token is kept for this browser session only.
            </p>
            <div className="field">
              <label htmlFor="admin-token">Admin token</label>
              <input
                id="admin-token"
                name="admin-token"
                type="password"
                autoComplete="off"
                spellCheck={false}
                value={token}
                onChange={(e) => setToken(e.target.value)}
                aria-invalid={shown ? true : undefined}
                aria-describedby={shown ? 'signin-error' : undefined}
                autoFocus
              />
            </div>
            {shown && (
              <div className="result error" role="alert" id="signin-error" data-testid="signin-error">
                <TriangleExclamationPoint size={16} aria-hidden />
                <span>{shown}</span>
              </div>
            )}
            <button type="submit" className="btn primary" disabled={busy}>
              {busy ? <LoaderCircle size={15} className="spin" aria-hidden /> : <LogIn size={15} aria-hidden />}
              Sign in
            </button>
          </form>
        )}
      </div>
    </main>
  );
}
