import { useEffect, useState } from 'react';

/** Date.now(), re-read every `everyMs` (0: never): the clock of countdowns. */
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (everyMs <= 0) return;
    setNow(Date.now());
    const id = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(id);
  }, [everyMs]);
  return now;
}

/** Re-renders at client time `at` (ms) exactly, e.g. when a sale starts, between two ticks. */
export function useWakeAt(at: number | null) {
  const [, setWoken] = useState(0);
  useEffect(() => {
    if (at === null) return;
    const ms = at - Date.now();
    if (ms <= 0 || ms > 2 ** 31 - 1) return;
    const t = setTimeout(() => setWoken((n) => n + 1), ms + 1);
    return () => clearTimeout(t);
  }, [at]);
}
