import { engineContract } from './engine.contract.js';
import { createMemoryEngine } from './memory.js';

engineContract('memory', async (clock) => {
  // one store seen by both "nodes": in memory mode there is only one process
  const engine = createMemoryEngine({ now: clock.now });
  return { a: engine, b: { ...engine, instanceId: `${engine.instanceId}-b`, close: async () => {} } };
});
