import type { Route } from '../app/route.js';
import { InCall } from './InCall.js';
import { JoinForm } from './JoinForm.js';

export function CallPage({ route }: { route: Extract<Route, { page: 'call' }> }) {
  if (!route.roomId) return <JoinForm />;
  return (
    <InCall
      key={`${route.roomId}|${route.media}|${route.relay}`}
      setup={{ roomId: route.roomId, media: route.media, relay: route.relay }}
      autoJoin={route.autoJoin}
    />
  );
}
