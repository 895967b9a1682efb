import { ClientError } from '../sdk.js';

const WORDS: Record<string, string> = {
  network: 'The server cannot be reached. Check your connection; the app keeps retrying.',
  timeout: 'The server took too long to answer.',
  unauthorized: 'Your sign-in is no longer valid. Sign in again.',
  forbidden: 'You are not allowed to do that.',
  rate_limited: 'Too many requests: wait a moment and try again.',
  room_full: 'This call is full.',
  invalid_room: 'A room id is 1 to 128 letters, digits or _ . : -',
  busy: 'They are already in a call.',
  call_not_found: 'That call has already ended.',
  payload_too_large: 'The message is too long.',
  service_disabled: 'This server has no service key configured, so tasks cannot be read.',
  closed: 'The connection was closed.',
};

/**
 * An error in words a user can act on. The server's own message is kept when it says more
 * than the code (e.g. which SIWE field was wrong).
 */
export function describeError(error: unknown): string {
  if (error instanceof ClientError) {
    const words = WORDS[error.code];
    if (error.code === 'auth_failed' || error.code === 'unauthorized') {
      const domain = /domain must be (\S+)/.exec(error.message)?.[1];
      if (domain) {
        return `Sign-in failed: this server accepts sign-ins for ${domain}, but this page is ${window.location.host}. Open the app at http://${domain}/ or start the server with P3_SIWE_DOMAIN=${window.location.host}.`;
      }
      return `Sign-in failed: ${error.message}`;
    }
    return words ?? error.message;
  }
  if (error instanceof DOMException) {
    if (error.name === 'NotAllowedError')
      return 'The browser was not allowed to use the microphone or camera.';
    if (error.name === 'NotFoundError') return 'No microphone or camera was found.';
    if (error.name === 'NotReadableError')
      return 'The microphone or camera is in use by another application.';
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
