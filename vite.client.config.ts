import { defineConfig, type Plugin } from 'vite';

/**
 * src/protocol builds its zod schemas at module level, for the server's edge validation.
 * The SDK takes only types, paths and small pure functions from there, but a bundler
 * cannot know that `z.object(...).min(1)` has no side effects, so every schema (and zod,
 * ~110 kB) would ship to browsers. This wraps each top-level `const x = <call>` of those
 * modules in an IIFE marked `#__PURE__`: unused schemas then drop out, used ones still
 * evaluate exactly once, in order.
 */
function pureProtocolConstants(): Plugin {
  return {
    name: 'p3-pure-protocol-constants',
    enforce: 'post',
    transform(code, id) {
      if (!/[\\/]src[\\/]protocol[\\/][^\\/]+\.[jt]s$/.test(id)) return null;
      const program = this.parse(code) as unknown as { body: any[] };
      const edits: { start: number; end: number }[] = [];
      for (const statement of program.body) {
        const decl = statement.type === 'ExportNamedDeclaration' ? statement.declaration : statement;
        if (decl?.type !== 'VariableDeclaration') continue;
        for (const d of decl.declarations) {
          const t = d.init?.type;
          if (t === 'CallExpression' || t === 'NewExpression') edits.push({ start: d.init.start, end: d.init.end });
        }
      }
      if (edits.length === 0) return null;
      let out = code;
      for (const e of edits.reverse()) {
        out = `${out.slice(0, e.start)}/*#__PURE__*/ (() => (${out.slice(e.start, e.end)}))()${out.slice(e.end)}`;
      }
      return { code: out, map: null };
    },
  };
}

/**
 * The browser bundle of the client SDK (`npm run build:client` → dist-client/): one ES
 * module with its dependencies inlined (socket.io-client, viem's SIWE helper), for pages
 * without a bundler. Apps that bundle should import `p3-realtime/client` instead.
 */
export default defineConfig({
  plugins: [pureProtocolConstants()],
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
