import { useMemo, useRef } from 'react';
import { Api } from '../lib/api';

/**
 * One API client for the signed-in operator. It reads the token and the
 * refusal handler at call time, so the pollers built on it are not restarted
 * when either changes; an admin call answered 401 calls `onRefused`.
 */
export function useApi(token: string, onRefused: () => void): Api {
  const current = useRef({ token, onRefused });
  current.current = { token, onRefused };
  return useMemo(
    () =>
      new Api(
        () => current.current.token,
        () => current.current.onRefused(),
      ),
    [],
  );
}
