// Signing in with the organisation's identity provider: OpenID Connect's
// authorization-code flow with PKCE (RFC 7636, S256) as a public client (no
// secret in the browser). The provider sends the browser back to
// /console/callback with a code; the code and this tab's verifier buy the
// access token, kept in sessionStorage like a pasted token, with its expiry
// so the console can say in words when the session has ended.
// Which sign-in the console offers comes from /console/config.json.

import { token } from './api.js';

// While away at the provider: the state and verifier this tab made.
const FLOW_KEY = 'optcast.oidc_flow';
// When the access token expires (seconds since the epoch); set only for a
// provider's token, so its presence says "signed in with the provider".
const EXPIRES_KEY = 'optcast.token_expires_at';

const NO_STORE = { cache: 'no-store', credentials: 'omit' };

let config;

/** The console's sign-in configuration: {sign_in: 'token'} or {sign_in: 'oidc', issuer, client_id, scopes}. */
export async function consoleConfig() {
  if (!config) {
    try {
      const resp = await fetch('/console/config.json', NO_STORE);
      config = resp.ok ? await resp.json() : { sign_in: 'token' };
    } catch {
      config = { sign_in: 'token' };
    }
  }
  return config;
}

/** The address the provider sends the browser back to (register it with the provider). */
export const redirectUri = () => `${location.origin}/console/callback`;

/** Whether this page load is the provider's answer. */
export const isCallback = () => location.pathname === '/console/callback';

/** Whether the current token is a provider's. */
export const signedInWithProvider = () => sessionStorage.getItem(EXPIRES_KEY) !== null;

/** Whether the provider's token has expired (by this browser's clock). */
export function sessionExpired() {
  const at = Number(sessionStorage.getItem(EXPIRES_KEY));
  return signedInWithProvider() && Number.isFinite(at) && Date.now() / 1000 >= at;
}

/** Forgets the token, its expiry and any sign-in under way. */
export function forget() {
  token.clear();
  sessionStorage.removeItem(EXPIRES_KEY);
  sessionStorage.removeItem(FLOW_KEY);
}

function base64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** 32 random bytes, base64url: 43 characters (a PKCE verifier's length is 43 to 128). */
const randomToken = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

async function s256(verifier) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The provider's endpoints, from its discovery document (OpenID Connect Discovery 1.0). */
async function discover(issuer) {
  let resp;
  try {
    resp = await fetch(`${issuer}/.well-known/openid-configuration`, NO_STORE);
  } catch {
    throw new Error('The sign-in service could not be reached. Check the connection and try again.');
  }
  if (!resp.ok) throw new Error(`The sign-in service did not describe itself (it answered ${resp.status}).`);
  const doc = await resp.json();
  // Discovery §4.3: the document must name the issuer it was fetched for.
  if (doc.issuer !== issuer) throw new Error('The sign-in service names a different issuer than the one configured.');
  if (!doc.authorization_endpoint || !doc.token_endpoint) {
    throw new Error('The sign-in service does not offer the code flow this console uses.');
  }
  return doc;
}

/** Sends the browser to the provider's sign-in page. */
export async function startSignIn(cfg) {
  const doc = await discover(cfg.issuer);
  const flow = { state: randomToken(), verifier: randomToken(), token_endpoint: doc.token_endpoint };
  sessionStorage.setItem(FLOW_KEY, JSON.stringify(flow));
  const url = new URL(doc.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: cfg.client_id,
    redirect_uri: redirectUri(),
    scope: cfg.scopes.join(' '),
    state: flow.state,
    code_challenge: await s256(flow.verifier),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/** The JWT's `exp` claim (seconds), or null when the token is not a JWT that says. */
function expiryOf(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(atob(part)).exp;
    return Number.isFinite(exp) ? exp : null;
  } catch {
    return null;
  }
}

/**
 * Finishes a sign-in on /console/callback: checks the state this tab sent,
 * exchanges the code (with the verifier) for tokens, keeps the access token.
 * The code leaves the address bar at once. Rejects with an Error in words.
 */
export async function finishSignIn(cfg) {
  const params = new URLSearchParams(location.search);
  const flow = JSON.parse(sessionStorage.getItem(FLOW_KEY) ?? 'null');
  sessionStorage.removeItem(FLOW_KEY);
  history.replaceState(null, '', '/console');
  if (params.get('error')) {
    const why = params.get('error_description') || params.get('error');
    throw new Error(`The sign-in service did not sign you in: ${why}.`);
  }
  // RFC 6749 §10.12: an answer this tab did not ask for is not used.
  if (!flow || !params.get('state') || params.get('state') !== flow.state) {
    throw new Error('This sign-in answer is not for the sign-in this tab started. Sign in again.');
  }
  let resp;
  try {
    resp = await fetch(flow.token_endpoint, {
      ...NO_STORE,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: params.get('code') ?? '',
        redirect_uri: redirectUri(),
        client_id: cfg.client_id,
        code_verifier: flow.verifier,
      }),
    });
  } catch {
    throw new Error('The sign-in service could not be reached. Check the connection and try again.');
  }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok || !body.access_token) {
    const why = body.error_description || body.error || `it answered ${resp.status}`;
    throw new Error(`The sign-in service did not issue a token (${why}). Sign in again.`);
  }
  const expiresAt = expiryOf(body.access_token)
    ?? Math.floor(Date.now() / 1000) + (Number(body.expires_in) || 3600);
  token.set(body.access_token);
  sessionStorage.setItem(EXPIRES_KEY, String(expiresAt));
}
