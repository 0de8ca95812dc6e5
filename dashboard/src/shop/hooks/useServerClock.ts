import { useCallback, useRef, useState } from 'react';
import { addSample, bestOffset, type ClockSample } from '../lib/clock';

/** The offset of the engine's clock from this one (ms), from the samples the API records. */
export function useServerClock() {
  const samples = useRef<ClockSample[]>([]);
  const [offset, setOffset] = useState(0);
  const [synced, setSynced] = useState(false);
  const record = useCallback((s: ClockSample) => {
    samples.current = addSample(samples.current, s);
    setOffset(bestOffset(samples.current));
    setSynced(true);
  }, []);
  return { offset, synced, record };
}
