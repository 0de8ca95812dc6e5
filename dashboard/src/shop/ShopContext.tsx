import { createContext, useContext } from 'react';
import type { Buyer } from './lib/token';
import type { ShopApi } from './lib/shopApi';
import type { OrderBook } from './hooks/useOrderBook';

/** What every part of the shop shares: the API, the buyer, the engine's clock, the orders, navigation. */
export interface Shop {
  api: ShopApi;
  buyer: Buyer | null;
  signInMessage: string | null;
  signIn: (pasted: string) => string | null;
  /** how far the engine's clock is ahead of this one (ms) */
  clockOffset: number;
  book: OrderBook;
  /** the engine takes payments itself (simulated): Pay is offered */
  paymentsSimulated: boolean;
  navigate: (href: string) => void;
}

export const ShopContext = createContext<Shop | null>(null);

export function useShop(): Shop {
  const shop = useContext(ShopContext);
  if (!shop) throw new Error('useShop outside <ShopContext.Provider>');
  return shop;
}
