// Pages: the pages your token may see (GET /v1/pages: connected from here,
// the CLI or the API alike), one page's settings (retention, region) to
// change, and connecting a new page with its access token. No answer ever
// holds a token: only whether one is set.

import { api, seg, withQuery } from './api.js';
import { h, errorBox, facts, field, form, hashQuery, heading, knownPages, pageInput, when } from './ui.js';

const PAGE_SIZE = 50;

/** Page protection in words. */
function protectionWords(p) {
  return p ? `pause above ${(p.max_negative_rate * 100).toFixed(1)}% after ${p.min_sends} sends` : '—';
}

export function pagesView(root) {
  document.title = 'Pages · optcast console';
  const selected = hashQuery().get('page');
  const list = h('div', { id: 'page-list', 'aria-live': 'polite' }, h('p', {}, 'Loading your pages…'));
  const settings = h('section', { id: 'page-settings', 'aria-labelledby': 'settings-h', hidden: !selected });

  const row = (p) => h('tr', { 'data-page': p.page_id, 'aria-current': p.page_id === selected ? 'true' : null },
    h('th', { scope: 'row' }, h('a', { href: `#/pages?page=${seg(p.page_id)}`, 'data-select': p.page_id }, p.page_id)),
    h('td', { 'data-token': p.token_set ? 'set' : 'missing' }, p.token_set ? 'connected' : 'not connected (no token)'),
    h('td', {}, `${p.retention_days} days`),
    h('td', {}, p.region ?? '—'),
    h('td', {}, protectionWords(p.protection)),
    h('td', {}, when(p.updated_at_ms)),
    h('td', {},
      h('a', { href: `#/broadcasts?page=${seg(p.page_id)}` }, 'Broadcasts'), ' ',
      h('a', { href: `#/compose?page=${seg(p.page_id)}` }, 'Compose')));

  // One table, a page of pages at a time; "More pages" follows the cursor.
  const loadList = async () => {
    const body = h('tbody');
    const more = h('button', { type: 'button', id: 'more-pages', hidden: true }, 'More pages');
    let cursor = null;
    const next = async () => {
      const out = await api('GET', withQuery('/v1/pages', { limit: PAGE_SIZE, cursor }));
      for (const p of out.pages) {
        body.append(row(p));
        knownPages.remember({ page_id: p.page_id });
      }
      cursor = out.next_cursor;
      more.hidden = !cursor;
      return out.pages.length;
    };
    more.addEventListener('click', async () => {
      more.disabled = true;
      try {
        await next();
      } catch (err) {
        list.append(errorBox(err));
      } finally {
        more.disabled = false;
      }
    });
    try {
      const shown = await next();
      list.replaceChildren(shown === 0 && !cursor
        ? h('p', {}, 'No page yet: connect one below.')
        : h('table', {},
          h('caption', {}, 'The pages your token may see'),
          h('thead', {}, h('tr', {}, ['Page id', 'Token', 'Retention', 'Region', 'Page protection', 'Updated', 'Actions']
            .map((t) => h('th', { scope: 'col' }, t)))),
          body),
        more);
    } catch (err) {
      list.replaceChildren(errorBox(err));
    }
  };

  // The selected page's settings, and a form to change retention and region.
  const loadSettings = async (id, note) => {
    let p;
    try {
      p = await api('GET', `/v1/pages/${seg(id)}`);
    } catch (err) {
      settings.replaceChildren(h('h2', { id: 'settings-h' }, `Page ${id}`), errorBox(err));
      return;
    }
    const retention = h('input', {
      type: 'number', name: 'retention_days', min: 1, max: 3650, inputmode: 'numeric', required: true, value: p.retention_days,
    });
    const region = h('input', {
      name: 'region', maxlength: 2, pattern: '[A-Za-z]{2}', autocomplete: 'off', size: 3, value: p.region ?? '',
    });
    const newToken = h('input', { type: 'password', name: 'access_token', autocomplete: 'off' });
    const saved = h('div', { role: 'status', id: 'settings-saved' }, note ?? null);
    settings.replaceChildren(
      h('h2', { id: 'settings-h' }, `Page ${p.page_id}`),
      facts([
        ['Token', p.token_set ? 'set (stored encrypted, never shown)' : 'none: connect the page with its token', 'token'],
        ['Retention', `${p.retention_days} days`, 'retention'],
        ['Region', p.region ?? '—', 'region'],
        ['Page protection', protectionWords(p.protection), 'protection'],
        ['Connected', when(p.connected_at_ms), 'connected'],
        ['Updated', when(p.updated_at_ms), 'updated'],
        ['First data', when(p.first_seen_at_ms), 'first-seen'],
      ], { id: 'page-facts' }),
      form({ id: 'edit-page' }, async () => {
        // Only what the form holds: page protection and the token stay as stored.
        const body = {
          retention_days: Number(retention.value),
          region: region.value.trim() ? region.value.trim().toUpperCase() : null,
        };
        if (newToken.value) body.access_token = newToken.value;
        const out = await api('PUT', `/v1/pages/${seg(p.page_id)}`, body);
        await loadSettings(p.page_id, h('p.ok', {}, `Saved: data kept ${out.retention_days} days`
          + `${out.region ? `, region ${out.region}` : ', no region'}.`));
        await loadList();
      },
      field('Retention (days)', retention, '1 to 3650: older data of this page is deleted.'),
      field('Business region', region, 'Two letters (EU, UK, AU, JP, KR, US, …); empty: none.'),
      field('New page access token', newToken, 'Leave empty to keep the current token.'),
      h('button', { type: 'submit' }, 'Save settings')),
      saved);
  };

  const page = pageInput('');
  const accessToken = h('input', { type: 'password', name: 'access_token', required: true, autocomplete: 'off' });
  const retention = h('input', { type: 'number', name: 'retention_days', min: 1, max: 3650, inputmode: 'numeric' });
  const region = h('input', {
    name: 'region', maxlength: 2, pattern: '[A-Za-z]{2}', autocomplete: 'off', size: 3,
  });
  const result = h('div', { role: 'status' });

  root.append(
    heading('Pages'),
    h('section', { 'aria-labelledby': 'list-h' }, h('h2', { id: 'list-h' }, 'Your pages'), list),
    settings,
    h('section', { 'aria-labelledby': 'connect-h' },
      h('h2', { id: 'connect-h' }, 'Connect a page'),
      form({ id: 'connect-page' }, async () => {
        const body = { access_token: accessToken.value };
        if (retention.value) body.retention_days = Number(retention.value);
        if (region.value) body.region = region.value.toUpperCase();
        const out = await api('PUT', `/v1/pages/${seg(page.value.trim())}`, body);
        knownPages.remember({ page_id: out.page_id });
        accessToken.value = '';
        result.replaceChildren(h('p.ok', {}, `Page ${out.page_id} is connected: data kept ${out.retention_days} days`
          + `${out.region ? `, region ${out.region}` : ''}. Its token is stored encrypted and never shown again.`));
        await loadList();
      },
      field('Page id', page, "The Facebook Page's numeric id."),
      field('Page access token', accessToken, 'Stored encrypted; connecting again replaces it.'),
      field('Retention (days)', retention, '1 to 3650; empty keeps the current value (730 for a new page).'),
      field('Business region', region,
        'Two letters (EU, UK, AU, JP, KR, US, …): where Meta honours marketing-messages tokens.'),
      h('button', { type: 'submit' }, 'Connect page')),
      result),
  );
  loadList();
  if (selected) loadSettings(selected);
}
