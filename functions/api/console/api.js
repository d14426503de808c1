// The management API, called with the token the user typed (kept in
// sessionStorage: gone when the tab closes, never in a URL or a cookie).
// Errors become ApiError, and describe() turns one into words.

const TOKEN_KEY = 'optcast.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An API answer that was not a success: HTTP status, the API's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// One sentence per status, before the API's own message.
const STATUS_WORDS = {
  0: 'The API could not be reached. Check the connection and try again.',
  400: 'The API did not accept this request.',
  401: 'Your token was not accepted. Sign out and sign in again with a valid token.',
  403: 'Your token does not have the permission this needs.',
  404: 'Not found: it does not exist, or it belongs to a page your token cannot see.',
  405: 'The API does not offer this action here.',
  409: 'Not possible in the current state.',
  413: 'The request is too large.',
  429: 'Too many requests just now. Wait a moment and try again.',
  503: 'The service is unavailable right now. Try again shortly.',
};

/** A sentence a person can act on: what the status means, then the API's message. */
export function describe(err) {
  if (!(err instanceof ApiError)) return err.message;
  const words = STATUS_WORDS[err.status]
    ?? (err.status >= 500 ? 'The service failed to answer.' : `The API answered ${err.status}.`);
  const detail = err.message ? ` ${capitalise(err.message)}${/[.!?]$/.test(err.message) ? '' : '.'}` : '';
  return words + detail;
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Calls `method path` (a `/v1/...` path with its query) with the bearer token;
 * `body` is sent as JSON. Resolves to the parsed JSON answer (null when empty).
 * Rejects with ApiError (status 0 when the API could not be reached).
 */
export async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token.get() ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, 'network', '');
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (resp.status === 401) {
    // The console's shell decides what a refused token means (signin.js).
    const wwwAuthenticate = resp.headers.get('www-authenticate');
    window.dispatchEvent(new CustomEvent('optcast:unauthorized', { detail: { wwwAuthenticate } }));
  }
  if (!resp.ok) {
    const e = data && data.error;
    throw new ApiError(resp.status, e?.code ?? `http_${resp.status}`, e?.message ?? '');
  }
  return data;
}

/** `path` with the query parameters that have a value. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * A path segment, percent-encoded (tags may hold anything). `.` and `..`
 * are refused: an address resolves them as "this path" and "its parent",
 * encoded or not, so the call would reach another route.
 */
export function seg(s) {
  if (s === '.' || s === '..') {
    throw new Error(`"${s}" is not an id or a tag: in an address it names the path itself or its parent.`);
  }
  return encodeURIComponent(s);
}
