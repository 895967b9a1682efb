import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BusEvent, decodeBusEvent, encodeBusEvent, memberOf, parseMember } from './bus.js';

const id = fc.uuid();
const address = fc.stringMatching(/^0x[0-9a-fA-F]{40}$/);

describe('room bus messages', () => {
  it('round-trip every event, whatever JSON the relayed frame holds', () => {
    const relay = fc.record({
      kind: fc.constant('relay' as const),
      origin: id,
      from: id,
      to: fc.oneof(fc.constant(''), id),
      frame: fc.jsonValue().map((v) => JSON.stringify(v)),
    });
    const member = fc.record({
      kind: fc.constantFrom('join' as const, 'leave' as const),
      origin: id,
      peerId: id,
      address,
    });
    fc.assert(
      fc.property(fc.oneof(relay, member), (event: BusEvent) => {
        expect(decodeBusEvent(encodeBusEvent(event))).toEqual(event);
      }),
    );
  });

  it('ignores anything malformed published on a room channel', () => {
    fc.assert(
      fc.property(fc.string(), (junk) => {
        const e = decodeBusEvent(junk);
        if (e) expect(['relay', 'join', 'leave']).toContain(e.kind);
      }),
    );
    for (const junk of ['', 'R', 'R\nx', 'X\na\nb\nc', 'J\no\n\n0xabc', 'J\no\np\n']) {
      expect(decodeBusEvent(junk)).toBeNull();
    }
  });

  it('encodes lease members with their address', () => {
    expect(parseMember(memberOf('p1', '0xAbC'))).toEqual({ peerId: 'p1', address: '0xAbC' });
    expect(parseMember('no-space')).toBeNull();
  });
});
