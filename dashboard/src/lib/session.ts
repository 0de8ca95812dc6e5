/**
 * A secret kept in sessionStorage under `key`: gone when the tab closes.
 * Storage can be disabled (private modes, policies): reads then find
 * nothing and writes keep the secret in memory for this page only.
 */
export function sessionSlot(key: string) {
  return {
    load(): string | null {
      try {
        return sessionStorage.getItem(key);
      } catch {
        return null;
      }
    },
    store(value: string) {
      try {
        sessionStorage.setItem(key, value);
      } catch {
        /* storage disabled: in memory for this page only */
      }
    },
    clear() {
      try {
        sessionStorage.removeItem(key);
      } catch {
        /* ignore */
      }
    },
  };
}
