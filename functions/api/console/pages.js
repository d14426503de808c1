// Pages: connect a page (its access token, retention, region) and the pages
// this browser knows. The API keeps no list a caller can read back, and
// never returns a token: the list here is what this browser connected or
// opened, ids and settings only.

import { api, seg } from './api.js';
import { h, field, form, heading, knownPages, pageInput } from './ui.js';

export function pagesView(root) {
  document.title = 'Pages · optcast console';
  const list = h('div', { id: 'page-list' });
  const drawList = () => {
    const pages = knownPages.all();
    list.replaceChildren(pages.length === 0
      ? h('p', {}, 'No page connected from this browser yet.')
      : h('table', {},
        h('caption', {}, 'Pages connected or opened in this browser'),
        h('thead', {}, h('tr', {}, ['Page id', 'Retention', 'Region', 'Page protection', 'Actions']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, pages.map((p) => h('tr', { 'data-page': p.page_id },
          h('td', {}, p.page_id),
          h('td', {}, p.retention_days ? `${p.retention_days} days` : '—'),
          h('td', {}, p.region ?? '—'),
          h('td', {}, p.protection
            ? `pause above ${(p.protection.max_negative_rate * 100).toFixed(1)}% after ${p.protection.min_sends} sends`
            : '—'),
          h('td', {},
            h('a', { href: `#/broadcasts?page=${seg(p.page_id)}` }, 'Broadcasts'), ' ',
            h('a', { href: `#/compose?page=${seg(p.page_id)}` }, 'Compose')))))));
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
    h('section', { 'aria-labelledby': 'connect-h' },
      h('h2', { id: 'connect-h' }, 'Connect a page'),
      form({ id: 'connect-page' }, async () => {
        const body = { access_token: accessToken.value };
        if (retention.value) body.retention_days = Number(retention.value);
        if (region.value) body.region = region.value.toUpperCase();
        const out = await api('PUT', `/v1/pages/${seg(page.value.trim())}`, body);
        knownPages.remember(out);
        accessToken.value = '';
        result.replaceChildren(h('p.ok', {}, `Page ${out.page_id} is connected: data kept ${out.retention_days} days`
          + `${out.region ? `, region ${out.region}` : ''}. Its token is stored encrypted and never shown again.`));
        drawList();
      },
      field('Page id', page, "The Facebook Page's numeric id."),
      field('Page access token', accessToken, 'Stored encrypted; connecting again replaces it.'),
      field('Retention (days)', retention, '1 to 3650; empty keeps the default (730).'),
      field('Business region', region,
        'Two letters (EU, UK, AU, JP, KR, US, …): where Meta honours marketing-messages tokens.'),
      h('button', { type: 'submit' }, 'Connect page')),
      result),
    h('section', { 'aria-labelledby': 'list-h' }, h('h2', { id: 'list-h' }, 'Your pages'), list),
  );
  drawList();
}
