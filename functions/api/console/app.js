// The console's shell: sign-in, navigation, and the hash router
// (#/pages, #/compose, #/broadcasts, #/broadcasts/<id>, #/leads).

import { api, token } from './api.js';
import { h, field, form, heading } from './ui.js';
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

function signInView(root) {
  document.title = 'Sign in · optcast console';
  const input = h('input', {
    type: 'password', name: 'token', required: true, autocomplete: 'off', spellcheck: 'false',
  });
  root.append(
    heading('Sign in'),
    form({ id: 'sign-in', 'aria-label': 'Sign in' }, async () => {
      token.set(input.value.trim());
      try {
        // Any valid token may read the API's description: a cheap check.
        await api('GET', '/v1/openapi.json');
      } catch (err) {
        token.clear();
        throw err;
      }
      location.hash = '#/broadcasts';
      render();
    },
    field('Access token', input,
      'Locally the admin token `make dev` prints (OPTCAST_ADMIN_TOKEN); in AWS your JWT. '
      + 'It stays in this tab only and is forgotten when you close it or sign out.'),
    h('button', { type: 'submit' }, 'Sign in')),
  );
}

function render() {
  leave();
  leave = () => {};
  main.replaceChildren();
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
  token.clear();
  location.hash = '';
  render();
});
window.addEventListener('hashchange', render);
render();
