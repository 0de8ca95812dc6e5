import { useCallback, useEffect, useState } from 'react';
import { checkToken, clearToken, loadToken, REFUSED, storeToken, takeTokenFromFragment } from './lib/auth';
import { applyTheme, initialTheme, type Theme } from './lib/theme';
import { SignIn } from './components/SignIn';
import { Dashboard } from './components/Dashboard';

type Auth =
  | { state: 'signed-out'; message?: string }
  | { state: 'checking'; token: string }
  | { state: 'signed-in'; token: string };

export function App() {
  const [theme, setTheme] = useState<Theme>(() => initialTheme());
  const [auth, setAuth] = useState<Auth>(() => {
    const token = takeTokenFromFragment() ?? loadToken();
    return token ? { state: 'checking', token } : { state: 'signed-out' };
  });

  useEffect(() => applyTheme(theme), [theme]);

  // the banner URL pasted into an already open tab only changes the fragment
  useEffect(() => {
    const onHash = () => {
      const token = takeTokenFromFragment();
      if (token) setAuth({ state: 'checking', token });
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const toggleTheme = useCallback(() => setTheme((t) => (t === 'dark' ? 'light' : 'dark')), []);

  // a token from the fragment or the session is checked once before any admin data is shown
  useEffect(() => {
    if (auth.state !== 'checking') return;
    let cancelled = false;
    checkToken(auth.token).then((problem) => {
      if (cancelled) return;
      if (problem) {
        if (problem === REFUSED) clearToken();
        setAuth({ state: 'signed-out', message: problem });
      } else {
        storeToken(auth.token);
        setAuth({ state: 'signed-in', token: auth.token });
      }
    });
    return () => {
      cancelled = true;
    };
  }, [auth]);

  const signIn = useCallback(async (token: string): Promise<string | null> => {
    const problem = await checkToken(token);
    if (problem) return problem;
    storeToken(token);
    setAuth({ state: 'signed-in', token });
    return null;
  }, []);

  const signOut = useCallback((message?: string) => {
    clearToken();
    setAuth({ state: 'signed-out', message });
  }, []);

  if (auth.state !== 'signed-in') {
    return (
      <SignIn
        checking={auth.state === 'checking'}
        message={auth.state === 'signed-out' ? auth.message : undefined}
        onSignIn={signIn}
        theme={theme}
        onToggleTheme={toggleTheme}
      />
    );
  }
  return <Dashboard token={auth.token} onSignOut={signOut} theme={theme} onToggleTheme={toggleTheme} />;
}
