import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The web app: `vite build --config web/vite.config.ts` writes web/dist, which the server
 * serves at `/`. The SDK comes from source (web/src/sdk.ts re-exports src/client), so the
 * app always matches the server it ships with.
 */
export default defineConfig({
  root: here('.'),
  base: '/',
  plugins: [react()],
  // `vite --config web/vite.config.ts` (hot reload) in front of a server on :8080 started with
  // P3_SIWE_DOMAIN=localhost:5173 P3_ALLOWED_ORIGINS=http://localhost:5173
  server: {
    port: 5173,
    proxy: Object.fromEntries(
      ['/v1', '/signaling', '/pulse', '/socket.io'].map((path) => [
        path,
        { target: process.env.P3_DEV_SERVER ?? 'http://localhost:8080', ws: true },
      ]),
    ),
  },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1024,
  },
});
