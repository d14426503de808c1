// The console's shell: sign-in, navigation, and the hash router
// (#/pages, #/compose, #/broadcasts, #/broadcasts/<id>, #/leads).

import { api, token } from './api.js';
import { h, field, form, heading } from './ui.js';
import {
  consoleConfig, isCallback, finishSignIn, startSignIn, forget, sessionExpired, signedInWithProvider,
} from './signin.js';
import { pagesView } from './pages.js';
import { composeView } from './compose.js';
import { broadcastsView, broadcastView } from './broadcasts.js';
import { leadsView } from './leads.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signOut = document.getElementById('sign-out');

const ROUTES = [
  [/^#\/pages$/, pagesView, 'Pages'],
  [/^#\/compose$/, composeView, 'Compose'],
  [/^#\/broadcasts$/, broadcastsView, 'Broadcasts'],
  [/^#\/broadcasts\/([^/]+)$/, broadcastView, null],
  [/^#\/leads$/, leadsView, 'Leads'],
];

// What the current view stops when the user leaves it (polling).
let leave = () => {};

// How this console signs in (/console/config.json).
const config = await consoleConfig();

// Why the sign-in screen is showing, when it is not the first visit
// (an expired session, a refused sign-in): words, shown above the form.
let notice = null;

function signInView(root) {
  document.title = 'Sign in · optcast console';
  root.append(heading('Sign in'));
  if (notice) root.append(h('p.notice', { id: 'sign-in-notice', role: 'alert' }, notice));
  if (config.sign_in === 'oidc') {
    root.append(form({ id: 'sign-in', 'aria-label': 'Sign in' }, () => startSignIn(config),
      h('p', {}, 'Sign in with your organisation\'s account. The access it grants stays in this tab only '
        + 'and is forgotten when you close it or sign out.'),
      h('button', { type: 'submit', id: 'oidc-sign-in' }, notice ? 'Sign in again' : 'Sign in')));
    return;
  }
  const input = h('input', {
    type: 'password', name: 'token', required: true, autocomplete: 'off', spellcheck: 'false',
  });
  root.append(
    form({ id: 'sign-in', 'aria-label': 'Sign in' }, async () => {
      token.set(input.value.trim());
      try {
        // Any valid token may read the API's description: a cheap check.
        await api('GET', '/v1/openapi.json');
      } catch (err) {
        token.clear();
        throw err;
      }
      notice = null;
      go('#/broadcasts');
    },
    field('Access token', input,
      'Locally the admin token `make dev` prints (OPTCAST_ADMIN_TOKEN); in AWS without single sign-on, '
      + 'a JWT from your identity provider. '
      + 'It stays in this tab only and is forgotten when you close it or sign out.'),
    h('button', { type: 'submit' }, 'Sign in')),
  );
}

/** Ends a provider session that the API no longer accepts, saying why. */
function sessionEnded(wwwAuthenticate) {
  if (!signedInWithProvider() || !token.get()) return;
  notice = sessionExpired() || /expired/i.test(wwwAuthenticate ?? '')
    ? 'Your session has expired. Sign in again to continue.'
    : 'Your sign-in is no longer accepted. Sign in again to continue.';
  forget();
  render();
}

/**
 * Shows `hash`'s view, drawn once: a new hash is drawn by the hashchange
 * listener, the current one (no event comes) at once. Setting the hash and
 * rendering as well drew the view twice, the second replacing the first
 * while someone could already be typing in it.
 */
function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function render() {
  leave();
  leave = () => {};
  main.replaceChildren();
  if (sessionExpired()) {
    forget();
    notice = 'Your session has expired. Sign in again to continue.';
  }
  const signedIn = Boolean(token.get());
  nav.hidden = !signedIn;
  signOut.hidden = !signedIn;
  if (!signedIn) {
    signInView(main);
    return;
  }
  const hash = location.hash.split('?')[0] || '#/broadcasts';
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === hash) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  for (const [pattern, view] of ROUTES) {
    const m = hash.match(pattern);
    if (m) {
      leave = view(main, ...m.slice(1).map(decodeURIComponent)) ?? (() => {});
      return;
    }
  }
  location.hash = '#/broadcasts';
}

nav.replaceChildren(...ROUTES.filter(([, , label]) => label).map(([pattern, , label]) => {
  const href = pattern.source.replace(/^\^/, '').replace(/\$$/, '').replace(/\\\//g, '/');
  return h('a', { href }, label);
}));
signOut.addEventListener('click', () => {
  forget();
  notice = null;
  go('');
});
window.addEventListener('hashchange', render);
// The API refused the token (api.js): a provider's session has ended.
window.addEventListener('optcast:unauthorized', (ev) => sessionEnded(ev.detail?.wwwAuthenticate));
if (isCallback()) {
  try {
    await finishSignIn(config);
    notice = null;
    go('#/broadcasts');
  } catch (err) {
    forget();
    notice = err.message;
    render();
  }
} else {
  render();
}
