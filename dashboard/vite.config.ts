import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The engine serves the built dashboard at `/` and the API under `/api`.
// In dev, Vite proxies /api and /metrics to a running engine.
const engine = process.env.FLASHSALE_URL || 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 900,
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
