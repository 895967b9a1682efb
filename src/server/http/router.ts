import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

export type RouteHandler = (ctx: RouteContext) => unknown | Promise<unknown>;

interface Route {
  method: string;
  pattern: string;
  parts: string[];
  handler: RouteHandler;
}

/**
 * A small path router: segments that start with ':' capture one path segment.
 * A path that matches with another method answers 405 (the caller decides).
 */
export class Router {
  readonly #routes: Route[] = [];

  add(method: string, pattern: string, handler: RouteHandler): this {
    this.#routes.push({ method: method.toUpperCase(), pattern, parts: split(pattern), handler });
    return this;
  }
  get(pattern: string, handler: RouteHandler) {
    return this.add('GET', pattern, handler);
  }
  post(pattern: string, handler: RouteHandler) {
    return this.add('POST', pattern, handler);
  }

  match(
    method: string,
    path: string,
  ):
    | { handler: RouteHandler; params: Record<string, string>; pattern: string }
    | { allowed: string[] }
    | null {
    const parts = split(path);
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = matchParts(route.parts, parts);
      if (!params) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
        return { handler: route.handler, params, pattern: route.pattern };
      }
      allowed.push(route.method);
    }
    return allowed.length ? { allowed } : null;
  }
}

const split = (path: string) => path.split('/').filter(Boolean);

function matchParts(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const v = parts[i]!;
    if (p.startsWith(':')) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(v);
      } catch {
        return null;
      }
      params[p.slice(1)] = decoded;
    } else if (p !== v) return null;
  }
  return params;
}
