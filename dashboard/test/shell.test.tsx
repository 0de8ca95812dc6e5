import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { orderedComponents } from '../src/lib/health';
import { takeTokenFromFragment, TOKEN_KEY, loadToken } from '../src/lib/auth';
import { App } from '../src/App';
import { THEME_KEY } from '../src/lib/theme';
import { HealthPanel } from '../src/components/HealthPanel';
import { errorFrom } from '../src/lib/api';
import type { HealthStatus } from '../src/lib/types';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});
beforeEach(() => {
  sessionStorage.clear();
  localStorage.clear();
  window.history.replaceState(null, '', '/');
});

describe('health ordering', () => {
  it('puts known components first in a stable order, then the rest alphabetically', () => {
    const comp = (status: HealthStatus = 'ok') => ({ status, detail: '' });
    const rows = orderedComponents({
      status: 'degraded',
      mode: 'stack',
      components: { zeta: comp(), postgres: comp('down'), gateway: comp(), alpha: comp(), redis: comp(), order: comp('degraded'), product: comp(), inventory: comp(), rabbitmq: comp() },
    });
    expect(rows.map((r) => r.name)).toEqual(['gateway', 'inventory', 'order', 'product', 'redis', 'rabbitmq', 'postgres', 'alpha', 'zeta']);
    expect(rows[2]).toMatchObject({ label: 'Order processor', status: 'degraded' });
    expect(rows[6].label).toBe('PostgreSQL');
  });
  it('renders whatever comes, including the embedded stores', () => {
    render(
      <HealthPanel
        health={{ status: 'ok', mode: 'embedded', components: { sqlite: { status: 'ok', detail: 'wal' }, gateway: { status: 'ok', detail: 'up' }, memory_stock: { status: 'ok', detail: '' } } }}
        error={null}
        checkedAt={0}
      />,
    );
    const rows = screen.getAllByRole('listitem');
    expect(rows.map((r) => r.dataset.testid)).toEqual(['health-gateway', 'health-memory_stock', 'health-sqlite']);
    expect(screen.getByText('SQLite store (embedded)')).toBeTruthy();
  });
  it('shows the payments component (simulated or webhook) with its detail', () => {
    render(
      <HealthPanel
        health={{ status: 'ok', mode: 'embedded', components: { payments: { status: 'ok', detail: 'simulated (webhook on)' }, gateway: { status: 'ok', detail: 'up' } } }}
        error={null}
        checkedAt={0}
      />,
    );
    expect(screen.getAllByRole('listitem').map((r) => r.dataset.testid)).toEqual(['health-gateway', 'health-payments']);
    const row = screen.getByTestId('health-payments');
    expect(row.textContent).toMatch(/^Payments.*simulated \(webhook on\)/);
  });
  it('tolerates a malformed body', () => {
    expect(orderedComponents(null)).toEqual([]);
    expect(orderedComponents({ status: 'ok' } as never)).toEqual([]);
  });
});

describe('admin token from the URL fragment', () => {
  it('stores it in sessionStorage and removes the fragment', () => {
    window.history.replaceState(null, '', '/?x=1#admin_token=abc123');
    expect(takeTokenFromFragment()).toBe('abc123');
    expect(sessionStorage.getItem(TOKEN_KEY)).toBe('abc123');
    expect(window.location.hash).toBe('');
    expect(window.location.search).toBe('?x=1');
    expect(localStorage.length).toBe(0);
  });
  it('keeps other fragment parameters and ignores a fragment without a token', () => {
    window.history.replaceState(null, '', '/#admin_token=t&tab=log');
    expect(takeTokenFromFragment()).toBe('t');
    expect(window.location.hash).toBe('#tab=log');
    expect(takeTokenFromFragment()).toBeNull();
  });
});

describe('errors', () => {
  it("reads the contract's error body, else the status line", async () => {
    const e = await errorFrom(new Response(JSON.stringify({ error: { code: 'sold_out', message: 'no stock left' } }), { status: 409 }));
    expect([e.status, e.code, e.message]).toEqual([409, 'sold_out', 'no stock left']);
    const f = await errorFrom(new Response('oops', { status: 502, statusText: 'Bad Gateway' }));
    expect(f.code).toBe('http_502');
    expect(f.message).toMatch(/502 Bad Gateway: oops/);
  });
});

function fetchAnswering(status: number, body: unknown) {
  return vi.fn(async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }));
}

describe('<App> sign-in', () => {
  it('asks for the token and shows admin nothing before', () => {
    vi.stubGlobal('fetch', vi.fn());
    render(<App />);
    expect(screen.getByLabelText('Admin token')).toBeTruthy();
    expect(screen.queryByTestId('stat-remaining')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: /sign in/i }));
    expect(screen.getByTestId('signin-error').textContent).toMatch(/Enter the admin token/);
  });

  it('a wrong token (401 on /api/admin/stats) gets a clear message and is not kept', async () => {
    const fetch = fetchAnswering(401, { error: { code: 'unauthorized', message: 'bad token' } });
    vi.stubGlobal('fetch', fetch);
    render(<App />);
    fireEvent.change(screen.getByLabelText('Admin token'), { target: { value: 'nope' } });
    fireEvent.click(screen.getByRole('button', { name: /sign in/i }));
    await waitFor(() => expect(screen.getByTestId('signin-error').textContent).toMatch(/refused this admin token \(401/));
    expect(fetch).toHaveBeenCalledWith('/api/admin/stats', expect.objectContaining({ headers: expect.objectContaining({ Authorization: 'Bearer nope' }) }));
    expect(loadToken()).toBeNull();
  });

  it('a refused token from the fragment is dropped too', async () => {
    vi.stubGlobal('fetch', fetchAnswering(401, { error: { code: 'unauthorized', message: 'bad token' } }));
    window.history.replaceState(null, '', '/#admin_token=wrong');
    render(<App />);
    await waitFor(() => expect(screen.getByTestId('signin-error').textContent).toMatch(/401/));
    expect(loadToken()).toBeNull();
    expect(window.location.hash).toBe('');
  });
});

describe('theme toggle', () => {
  it('has an aria-label about the theme, switches data-theme and remembers it', () => {
    vi.stubGlobal('fetch', vi.fn());
    render(<App />);
    const toggle = screen.getByRole('button', { name: /theme/i });
    const before = document.documentElement.dataset.theme;
    fireEvent.click(toggle);
    const after = document.documentElement.dataset.theme;
    expect(after).not.toBe(before);
    expect(localStorage.getItem(THEME_KEY)).toBe(after);
    expect(screen.getByRole('button', { name: /theme/i }).getAttribute('aria-label')).toBe(`Switch to ${before} theme`);
  });
});
