// A fair start's draw on the console: the phase, the entrants, the entries
// served and the seed (copyable) of the selected sale, and its terms.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, renderHook, screen } from '@testing-library/react';
import { useCurrentSale } from '../src/hooks/useCurrentSale';
import { drawPhaseLabel, fairStartTerms, isSeed, servedPct } from '../src/lib/draw';
import { DRAW_SEED, draw, drawnSaleStats, fairStartSale, sale, saleStats, SALE_ID, stats } from './fixtures';
import { panel } from './statsPanelHarness';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});


const data = (testId: string) => screen.getByTestId(testId).dataset;

describe('the draw of the selected sale', () => {
  it('shows the phase, the entrants, served / entrants and the whole seed (monospace, in its title)', () => {
    panel(stats({}, [drawnSaleStats()]), fairStartSale());
    expect(data('draw-entrants').value).toBe('2');
    expect(screen.getByTestId('draw-entrants').textContent).toBe('2entrants');
    expect(data('draw-phase').phase).toBe('served');
    expect(screen.getByTestId('draw-phase').textContent).toBe('served');
    expect(data('draw-served')).toMatchObject({ value: '2', entrants: '2' });
    expect(screen.getByTestId('draw-served').textContent).toBe('served 2 / 2');
    expect(screen.getByRole('meter', { name: 'Draw entries served' }).getAttribute('aria-valuetext')).toBe('2 of 2 entries served');
    const seed = screen.getByTestId('draw-seed');
    expect(seed.tagName).toBe('CODE');
    expect(seed.textContent).toBe(DRAW_SEED);
    expect(seed.getAttribute('title')).toBe(DRAW_SEED);
    expect(data('draw-seed').seed).toBe(DRAW_SEED);
  });

  it("prefers the stats stream's draw (fresher) to the sale list's", () => {
    const listed = fairStartSale({ draw: draw({ phase: 'open', entrants: 3, served: 0, seed: null }) });
    panel(stats({}, [drawnSaleStats({ draw: draw({ phase: 'serving', entrants: 40, served: 10 }) })]), listed);
    expect(data('draw-entrants').value).toBe('40');
    expect(data('draw-phase').phase).toBe('serving');
    expect(screen.getByTestId('draw-served').textContent).toBe('served 10 / 40');
  });

  it('while taking entries: the entrants so far, no seed yet', () => {
    panel(stats({}, [drawnSaleStats({ draw: draw({ phase: 'open', entrants: 5, served: 0, seed: null }) })]), fairStartSale({ draw: null }));
    expect(data('draw-entrants').value).toBe('5');
    expect(screen.getByTestId('draw-phase').textContent).toBe('taking entries');
    expect(screen.queryByTestId('draw-seed')).toBeNull();
    expect(screen.getByTestId('draw-seed-pending').textContent).toMatch(/drawn when the window closes/);
  });

  it('copies the seed', async () => {
    const writeText = vi.fn(async () => {});
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    panel(stats({}, [drawnSaleStats()]), fairStartSale());
    const button = screen.getByRole('button', { name: "Copy the draw's seed" });
    await act(async () => {
      fireEvent.click(button);
    });
    expect(writeText).toHaveBeenCalledWith(DRAW_SEED);
    expect(screen.getByTestId('tile-draw').querySelector('[role="status"]')!.textContent).toBe('Seed copied.');
  });

  it('selects it for Ctrl+C where there is no clipboard (no secure context)', async () => {
    vi.stubGlobal('navigator', { ...navigator, clipboard: undefined });
    panel(stats({}, [drawnSaleStats()]), fairStartSale());
    await act(async () => {
      fireEvent.click(screen.getByTestId('draw-seed-copy'));
    });
    expect(window.getSelection()?.toString()).toBe(DRAW_SEED);
    expect(screen.getByTestId('tile-draw').querySelector('[role="status"]')!.textContent).toMatch(/press Ctrl\+C/);
  });

  it('nothing for a sale without a draw, nor for all sales', () => {
    panel(stats({}, [saleStats({ sale_id: SALE_ID })]), sale());
    expect(screen.queryByTestId('tile-draw')).toBeNull();
    expect(screen.queryByTestId('sale-fair-start')).toBeNull();
    cleanup();
    panel(stats({}, [drawnSaleStats()]), null, null);
    expect(screen.queryByTestId('tile-draw')).toBeNull();
  });

  it("shows the sale's fair start with its other settings", () => {
    panel(stats({}, [drawnSaleStats()]), fairStartSale());
    expect(screen.getByTestId('sale-fair-start').textContent).toBe('Fair start 5 s before the start → 3 s after');
    expect(data('sale-fair-start')).toMatchObject({ prequeue: '5', fairStart: '3' });
  });

  it('the selected sale carries the stream’s draw', () => {
    const live = stats({}, [drawnSaleStats({ draw: draw({ entrants: 9, served: 9 }) })]);
    const { result } = renderHook(() => useCurrentSale([fairStartSale({ draw: null })], live, SALE_ID));
    expect(result.current?.draw).toMatchObject({ entrants: 9, seed: DRAW_SEED });
  });
});

describe('draw helpers', () => {
  it('words, share served, seed shape, terms', () => {
    expect(['open', 'serving', 'served', 'new_phase'].map(drawPhaseLabel)).toEqual(['taking entries', 'serving', 'served', 'new phase']);
    expect(servedPct({ served: 1, entrants: 4 })).toBe(25);
    expect(servedPct({ served: 0, entrants: 0 })).toBe(0);
    expect(isSeed(DRAW_SEED)).toBe(true);
    expect(isSeed('abc')).toBe(false);
    expect(isSeed(null)).toBe(false);
    expect(fairStartTerms(0, 0)).toBeNull();
    expect(fairStartTerms(0, 10)).toBe('0 s before the start → 10 s after');
  });
});
