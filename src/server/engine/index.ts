import { createMemoryEngine } from './memory.js';
import { createRedisEngine } from './redis.js';
import type { Engine } from './types.js';

export { createMemoryEngine } from './memory.js';
export { createRedisEngine } from './redis.js';
export * from './types.js';

/** The engine a configuration asks for: Redis when a URL is given, memory otherwise. */
export function createEngine(options: {
  redisUrl?: string | undefined;
  onError?: (e: Error) => void;
}): Engine {
  if (options.redisUrl) {
    return createRedisEngine({
      url: options.redisUrl,
      ...(options.onError ? { onError: options.onError } : {}),
    });
  }
  return createMemoryEngine();
}
