import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of the service key; false whenever no key is configured. */
export function createServiceKeyCheck(serviceKey: string | undefined) {
  const expected = serviceKey ? digest(serviceKey) : undefined;
  return {
    enabled: expected !== undefined,
    check(presented: string | undefined): boolean {
      if (!expected || !presented) return false;
      return timingSafeEqual(digest(presented), expected);
    },
  };
}
