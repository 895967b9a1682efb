/** A long-lived SDK connection as the pages show it. */
export type Connection = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The SDK's `state` event (`idle`, `connecting`, `open`, `reconnecting`, `closed`) as a Connection. */
export function toConnection(state: string): Connection {
  return state === 'open' || state === 'closed' || state === 'reconnecting' ? state : 'connecting';
}
