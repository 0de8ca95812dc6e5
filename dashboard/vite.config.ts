import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Two pages, one build: the operator dashboard (index.html, served by the
// engine at `/`) and the buyers' shop (shop/index.html → dist/shop/index.html,
// served at `/shop/` and every `/shop/…` path that is not a file). Their
// assets share dist/assets/. The API is under `/api`; in dev, Vite proxies
// /api and /metrics to a running engine.
const engine = process.env.FLASHSALE_URL || 'http://127.0.0.1:8080';
const page = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** In dev, `/shop/sale/<id>` (a client-side route) gets the shop's page, as the engine does. */
function shopRoutes(): Plugin {
  return {
    name: 'flashsale-shop-routes',
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        const path = (req.url ?? '').split('?')[0];
        if ((path === '/shop' || path.startsWith('/shop/')) && !/\.[a-z0-9]+$/i.test(path)) req.url = '/shop/index.html';
        next();
      });
    },
  };
}

export default defineConfig({
  base: '/',
  plugins: [react(), shopRoutes()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 900,
    rolldownOptions: {
      input: {
        dashboard: page('./index.html'),
        shop: page('./shop/index.html'),
      },
      // what both pages use (React, the design system, the shared lib) is one
      // chunk, cached once for both: dist/assets/hud-*.{js,css}
      output: {
        codeSplitting: { groups: [{ name: 'hud', minShareCount: 2 }] },
      },
    },
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: {
      '/api': { target: engine, changeOrigin: true },
      '/metrics': { target: engine, changeOrigin: true },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['test/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
