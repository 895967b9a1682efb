/**
 * Compile-time checks for the `*.schema.ts` modules: each states that its zod schemas infer
 * exactly the hand-written types of the zod-free module next to it, so the two cannot drift.
 *
 * @example
 * type _Checks = [Expect<Equal<z.infer<typeof StatsDataSchema>, StatsData>>];
 */
export type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
export type Expect<T extends true> = T;
