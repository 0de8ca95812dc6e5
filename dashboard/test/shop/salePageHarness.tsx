// What the sale-page tests share: the phone's clock (fake timers from T0,
// reset after each test), the page opened on a sale as a signed-in buyer,
// and the elements they read.
import { afterEach, beforeEach, vi } from 'vitest';
import { act, cleanup, render, screen } from '@testing-library/react';
import { ShopApp } from '../../src/shop/ShopApp';
import { BUYER_TOKEN_KEY } from '../../src/shop/lib/token';
import { SALE_ID } from '../fixtures';
import { jwt } from './fakeEngine';

export const T0 = Date.parse('2026-11-30T10:00:00.000Z');
export const HOUR = 3_600_000;

/** Fake timers from T0 and empty storage for each test of the file. */
export function usePhoneClock() {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    sessionStorage.clear();
    localStorage.clear();
  });
  afterEach(() => {
    cleanup();
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });
}

/** lets fetch answers, effects and timers due by then run */
export async function advance(ms = 0) {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

export const buy = () => screen.getByTestId('buy') as HTMLButtonElement;
export const answer = () => screen.getByTestId('answer');

/** The sale page of SALE_ID, signed in as `buyer` (`null`: signed out). */
export function openSale(buyer: string | null = 'alice') {
  if (buyer) sessionStorage.setItem(BUYER_TOKEN_KEY, jwt(buyer, Math.floor(T0 / 1000) + 3600));
  window.history.replaceState(null, '', `/shop/sale/${SALE_ID}`);
  return render(<ShopApp />);
}
