import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Figure } from './figures.js';

/**
 * Merges the figures the fault scenarios recorded (test-results/faults/*.json) into
 * RELIABILITY.md and test-results/faults/reliability.json.
 */
const dir = fileURLToPath(new URL('../../test-results/faults/', import.meta.url));
const figures: Figure[] = [];
for (const f of readdirSync(dir)
  .filter((n) => n.endsWith('.json') && n !== 'reliability.json')
  .sort()) {
  figures.push(...(JSON.parse(readFileSync(dir + f, 'utf8')) as Figure[]));
}
const full = process.env.P3_FAULTS_FULL === '1';
const when = new Date().toISOString();
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
const esc = (s: string) => s.replace(/\|/g, '\\|');
const table = [
  '| scenario | what the most trusted system promises | what we measured |',
  '|---|---|---|',
  ...figures.map((f) => `| ${esc(f.scenario)} | ${esc(f.reference)} | ${esc(f.measured)} |`),
].join('\n');
const md = `# Reliability and security figures

Written by \`npm run test:faults\` (${full ? 'full size' : 'short form, as inside npm test'}) on ${when}, ${machine}.
Every scenario runs on loopback against real processes (server nodes, redis-server, coturn,
clients) and stops by itself; each row is asserted by its test, so a regression fails the run.

${table}
`;
writeFileSync(fileURLToPath(new URL('../../RELIABILITY.md', import.meta.url)), md);
writeFileSync(`${dir}reliability.json`, JSON.stringify({ when, machine, full, figures }, null, 2));
process.stdout.write(`${md}\n`);
