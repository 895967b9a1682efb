import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSync } from 'vite';
import { describe, expect, it } from 'vitest';

/**
 * Apps that bundle `p3-realtime/client` themselves get no help from vite.client.config.ts:
 * zod stays out of their bundle only if no module the SDK imports imports zod. The protocol
 * keeps its zod schemas in `src/protocol/*.schema.ts` for that; this walks the SDK's static
 * import graph (type-only imports and re-exports included) to hold it.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const rel = (file: string) => relative(root, file).split('\\').join('/');

/** `./x.js` names `./x.ts` (or `.tsx`) in the sources, as NodeNext resolution has it. */
function resolveSource(from: string, specifier: string): string {
  const target = resolve(from, '..', specifier);
  const candidates = /\.[cm]?js$/.test(target)
    ? [target.replace(/js$/, 'ts'), target.replace(/js$/, 'tsx')]
    : [target, `${target}.ts`, join(target, 'index.ts')];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`${rel(from)}: cannot resolve '${specifier}'`);
  return found;
}

/** Every source file `entry` reaches through relative imports, with the packages each imports. */
function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pending = [resolve(root, entry)];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (graph.has(file)) continue;
    const code = readFileSync(file, 'utf8');
    const { module, errors } = parseSync(file, code);
    if (errors.length > 0) throw new Error(`${rel(file)}: ${errors[0]?.message}`);
    const specifiers = [
      ...module.staticImports.map((i) => i.moduleRequest.value),
      ...module.staticExports.flatMap((e) => e.entries.flatMap((x) => x.moduleRequest?.value ?? [])),
      // import('…') with a literal specifier
      ...module.dynamicImports.flatMap((d) => {
        const literal = /^(['"`])([^'"`$]*)\1$/.exec(code.slice(d.moduleRequest.start, d.moduleRequest.end));
        return literal?.[2] ?? [];
      }),
    ];
    const packages: string[] = [];
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) pending.push(resolveSource(file, specifier));
      else packages.push(specifier);
    }
    graph.set(file, packages);
  }
  return graph;
}

const isZod = (specifier: string) => specifier === 'zod' || specifier.startsWith('zod/');

/** The files of `graph` that import zod, relative to the repo root. */
const zodImporters = (graph: Map<string, string[]>) =>
  [...graph].filter(([, packages]) => packages.some(isZod)).map(([file]) => rel(file));

describe('client SDK import graph', () => {
  it('reaches no module that imports zod, and no schema module', () => {
    const graph = importGraph('src/client/index.ts');
    const files = [...graph.keys()].map(rel);
    // the walk follows the SDK into the protocol modules it shares with the server
    expect(files).toEqual(
      expect.arrayContaining([
        'src/client/index.ts',
        'src/client/call/call.ts',
        'src/client/pulse/tasks.ts',
        'src/protocol/errors.ts',
        'src/protocol/lanes.ts',
        'src/protocol/messaging.ts',
        'src/protocol/pulse.ts',
        'src/protocol/signaling.ts',
        'src/protocol/webrtc.ts',
      ]),
    );
    expect(zodImporters(graph)).toEqual([]);
    expect(files.filter((f) => f.endsWith('.schema.ts') || f === 'src/protocol/index.ts')).toEqual([]);
  });

  it('every zod-free protocol module stays zod-free', () => {
    const dir = resolve(root, 'src/protocol');
    const modules = readdirSync(dir).filter(
      (f) => f.endsWith('.ts') && !/\.(schema|test)\.ts$/.test(f) && f !== 'index.ts',
    );
    expect(modules.length).toBeGreaterThanOrEqual(7);
    for (const m of modules) expect(zodImporters(importGraph(`src/protocol/${m}`)), m).toEqual([]);
  });

  it('would catch a schema module: the protocol index reaches zod through each one', () => {
    expect(zodImporters(importGraph('src/protocol/index.ts')).sort()).toEqual([
      'src/protocol/lanes.schema.ts',
      'src/protocol/messaging.schema.ts',
      'src/protocol/pulse.schema.ts',
      'src/protocol/signaling.schema.ts',
    ]);
  });
});
