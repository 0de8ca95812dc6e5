// The buyers' page ("the shop"), served by the engine at /shop/. Same design
// system, fonts and theme as the operator dashboard (src/main.tsx).
import '../fonts';
import '../styles/hud.css';
import './shop.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ShopApp } from './ShopApp';
import { applyTheme, initialTheme } from '../lib/theme';

applyTheme(initialTheme());

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ShopApp />
  </StrictMode>,
);
