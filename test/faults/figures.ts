import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Full-size fault runs (`npm run test:faults`) versus the short form inside `npm test`. */
export const FULL = process.env.P3_FAULTS_FULL === '1';
export const scale = (short: number, full: number) => (FULL ? full : short);

const dir = fileURLToPath(new URL('../../test-results/faults/', import.meta.url));

export interface Figure {
  scenario: string;
  /** What the most trusted system of its kind promises. */
  reference: string;
  /** What we measured, in words and numbers. */
  measured: string;
  numbers: Record<string, number>;
}

/** Records a scenario's figures for RELIABILITY.md (merged by test/faults/report.ts). */
export function recordFigure(file: string, figure: Figure): void {
  mkdirSync(dir, { recursive: true });
  const path = `${dir}${file}.json`;
  let list: Figure[] = [];
  try {
    list = JSON.parse(readFileSync(path, 'utf8')) as Figure[];
  } catch {}
  list = list.filter((f) => f.scenario !== figure.scenario);
  list.push({ ...figure, numbers: { ...figure.numbers } });
  writeFileSync(path, JSON.stringify(list, null, 2));
}
