import { Address } from '../components/Address.js';
import { useIdentity } from '../identity/identity.js';
import type { Route } from './route.js';

const LINKS: { page: Route['page']; href: string; label: string }[] = [
  { page: 'chat', href: '#/chat', label: 'Chat' },
  { page: 'call', href: '#/call', label: 'Call' },
  { page: 'pulse', href: '#/pulse', label: 'Pulse' },
];

export function Header({ route }: { route: Route }) {
  const { user, signOut } = useIdentity();
  return (
    <header className="top">
      <span className="brand">p3-realtime</span>
      {user && (
        <nav aria-label="Pages">
          {LINKS.map((l) => (
            <a key={l.page} href={l.href} aria-current={route.page === l.page ? 'page' : undefined}>
              {l.label}
            </a>
          ))}
        </nav>
      )}
      {user && (
        <div className="whoami">
          <span className="muted small">Signed in as</span>{' '}
          <span data-testid="my-address" data-address={user.address}>
            <Address address={user.address} />
          </span>
          {user.kind === 'local' && (
            <span className="badge warn" title="A key kept in this browser's storage, for testing">
              local test identity
            </span>
          )}
          <button type="button" className="link" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      )}
    </header>
  );
}
