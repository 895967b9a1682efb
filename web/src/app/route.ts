import { useEffect, useState } from 'react';

/** The pages, addressed by the URL hash so the server only ever serves `/`. */
export type Route =
  | { page: 'chat'; peer: string | undefined }
  | { page: 'call'; roomId: string | undefined; media: 'audio' | 'video'; relay: boolean; autoJoin: boolean }
  | { page: 'pulse' };

/**
 * `#/chat/0xabc`, `#/call/room-1?media=video&relay=1&join=1`, `#/pulse`; anything else is the chat.
 *
 * @example
 * parseHash('#/call/r1?media=video'); // { page: 'call', roomId: 'r1', media: 'video', relay: false, autoJoin: false }
 */
export function parseHash(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  const [page, arg] = path.split('/').map((s) => safeDecode(s));
  const params = new URLSearchParams(query);
  if (page === 'call') {
    return {
      page: 'call',
      roomId: arg || undefined,
      media: params.get('media') === 'video' ? 'video' : 'audio',
      relay: params.get('relay') === '1',
      autoJoin: params.get('join') === '1',
    };
  }
  if (page === 'pulse') return { page: 'pulse' };
  return { page: 'chat', peer: arg || undefined };
}

/** The hash of a route (the inverse of parseHash). */
export function routeHash(route: Route): string {
  if (route.page === 'pulse') return '#/pulse';
  if (route.page === 'chat') return route.peer ? `#/chat/${route.peer}` : '#/chat';
  const params = new URLSearchParams();
  if (route.media === 'video') params.set('media', 'video');
  if (route.relay) params.set('relay', '1');
  if (route.autoJoin) params.set('join', '1');
  const q = params.toString();
  return `#/call${route.roomId ? `/${encodeURIComponent(route.roomId)}` : ''}${q ? `?${q}` : ''}`;
}

export function navigate(route: Route): void {
  window.location.hash = routeHash(route);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The current route; follows back/forward and links. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
