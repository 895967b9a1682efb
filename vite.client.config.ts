import { defineConfig } from 'vite';

/**
 * The browser bundle of the client SDK (`npm run build:client` → dist-client/): one ES
 * module with its dependencies inlined (socket.io-client, viem's SIWE helper), for pages
 * without a bundler. Apps that bundle should import `p3-realtime/client` instead.
 *
 * No plugin keeps zod out: the SDK imports only the zod-free protocol modules (types,
 * constants, pure functions); the schemas live in `src/protocol/*.schema.ts`, which only the
 * server imports (test/client-imports.test.ts walks the SDK's import graph to hold that).
 */
export default defineConfig({
  build: {
    outDir: 'dist-client',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    reportCompressedSize: true,
    // the file is for pages without a bundler, so it ships fully minified (Vite keeps the
    // whitespace of ES library builds by default)
    rolldownOptions: { output: { minify: true } },
    lib: {
      entry: process.env.P3_CLIENT_ENTRY ?? 'src/client/index.ts',
      formats: ['es'],
      fileName: () => 'p3-realtime-client.js',
    },
  },
});
