/** `0x1234…abcd`, with the full address as a tooltip and for screen readers. */
export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

export function Address({ address }: { address: string }) {
  return (
    <span className="address" title={address}>
      <span aria-hidden="true">{shortAddress(address)}</span>
      <span className="sr-only">{address}</span>
    </span>
  );
}
