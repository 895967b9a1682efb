import { useEffect } from 'react';
import { CallPage } from '../call/CallPage.js';
import { ChatPage } from '../chat/ChatPage.js';
import { IncomingCall } from '../chat/IncomingCall.js';
import { MessagingProvider } from '../chat/messaging.js';
import { IdentityProvider, useIdentity } from '../identity/identity.js';
import { SignIn } from '../identity/SignIn.js';
import { PulsePage } from '../pulse/PulsePage.js';
import { Header } from './Header.js';
import { type Route, useRoute } from './route.js';

export function App() {
  return (
    <IdentityProvider>
      <Shell />
    </IdentityProvider>
  );
}

function Shell() {
  const route = useRoute();
  const { user } = useIdentity();
  // a new page: say so in the title and move keyboard focus to it (not on the first load)
  useEffect(() => {
    document.title = `${TITLES[route.page]} · p3-realtime`;
  }, [route.page]);
  useEffect(() => {
    if (route.page && document.activeElement !== document.body) {
      document.getElementById('main')?.focus({ preventScroll: true });
    }
  }, [route.page]);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header route={route} />
      <main id="main" tabIndex={-1}>
        {user ? (
          <MessagingProvider>
            <IncomingCall />
            <Page route={route} />
          </MessagingProvider>
        ) : (
          <SignIn />
        )}
      </main>
    </>
  );
}

const TITLES: Record<Route['page'], string> = { chat: 'Chat', call: 'Call', pulse: 'Pulse' };

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'call':
      return <CallPage route={route} />;
    case 'pulse':
      return <PulsePage />;
    default:
      return <ChatPage peer={route.peer} />;
  }
}
