// A lead: consent state and history, tags (add / remove), export (a JSON
// download) and erasure (with a confirmation step, then its progress).

import { api, seg, withQuery } from './api.js';
import { h, errorBox, facts, field, form, hashQuery, heading, knownPages, pageInput, when } from './ui.js';

const REASON_WORDS = {
  first_contact: 'started a conversation',
  marketing_opt_in: 'opted in to marketing messages',
};

function historyTable(history) {
  if (history.length === 0) return h('p', {}, 'No consent change recorded.');
  return h('table', { id: 'history' },
    h('caption', {}, 'Consent history, oldest first'),
    h('thead', {}, h('tr', {}, ['When', 'From', 'To', 'Why', 'Proof'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, history.map((c) => h('tr', {},
      h('td', {}, when(c.at_ms)),
      h('td', {}, c.from ?? 'no lead'),
      h('td', {}, c.to),
      h('td', {}, REASON_WORDS[c.reason] ?? c.reason.replaceAll('_', ' ')),
      h('td', {}, c.proof?.event_sha256
        ? h('code', { title: `event ${c.proof.event_key ?? ''}` }, `${c.proof.event_sha256.slice(0, 12)}…`)
        : '—')))));
}

export function leadsView(root) {
  document.title = 'Leads · optcast console';
  const q = hashQuery();
  const page = pageInput(q.get('page') ?? undefined);
  const psid = h('input', {
    name: 'psid', required: true, inputmode: 'numeric', pattern: '[1-9][0-9]{0,19}', autocomplete: 'off',
    value: q.get('psid') ?? '',
  });
  const out = h('div', { id: 'lead' });

  const show = async () => {
    const p = page.value.trim();
    const who = psid.value.trim();
    const lead = await api('GET', `/v1/pages/${seg(p)}/subscribers/${seg(who)}`);
    knownPages.remember({ page_id: p });
    drawLead(out, p, who, lead, show);
  };

  root.append(
    heading('Leads'),
    form({ id: 'lookup', class: 'inline' }, show,
      field('Page id', page), field('Lead (PSID)', psid), h('button', { type: 'submit' }, 'Look up')),
    out,
  );
  if (page.value && psid.value) show().catch((err) => out.replaceChildren(errorBox(err)));
}

function drawLead(out, page, psid, lead, reload) {
  const tag = h('input', { name: 'tag', required: true, maxlength: 100, autocomplete: 'off' });
  const tagStatus = h('div', { role: 'status' });
  const tagCall = async (method, name) => {
    await api(method, `/v1/pages/${seg(page)}/subscribers/${seg(psid)}/tags/${seg(name)}`);
    await reload();
  };
  const tags = lead.tags.length === 0
    ? h('p', {}, 'No tags.')
    : h('ul.tags', { id: 'tags' }, lead.tags.map((t) => h('li', { 'data-tag': t }, t, ' ',
      h('button.quiet', {
        type: 'button',
        'aria-label': `Remove tag ${t}`,
        onclick: () => tagCall('DELETE', t).catch((err) => tagStatus.replaceChildren(errorBox(err))),
      }, 'Remove'))));
  const mm = lead.marketing_messages;
  out.replaceChildren(
    h('section', { 'aria-labelledby': 'lead-h' }, h('h2', { id: 'lead-h' }, `Lead ${psid}`), facts([
      ['Status', h('span.state', { 'data-status': lead.status }, lead.status), 'status'],
      ['Opted in', lead.opted_in ? when(lead.opted_in.event_time_ms) : '—'],
      ['Last message from them', when(lead.last_inbound_at_ms)],
      ['Marketing messages', mm
        ? `${mm.stopped ? 'stopped' : mm.granted ? 'granted' : 'not granted'}${mm.expires_at_ms ? `, token expires ${when(mm.expires_at_ms)}` : ''}`
        : 'not granted'],
    ], { id: 'lead-facts' })),
    h('section', { 'aria-labelledby': 'tags-h' }, h('h3', { id: 'tags-h' }, 'Tags'), tags,
      form({ id: 'add-tag', class: 'inline' }, async () => { await tagCall('PUT', tag.value.trim()); },
        field('New tag', tag), h('button', { type: 'submit' }, 'Add tag')),
      tagStatus),
    h('section', { 'aria-labelledby': 'history-h' }, h('h3', { id: 'history-h' }, 'Consent'), historyTable(lead.history)),
    dataRights(page, psid, () => {
      // Erased: nothing of the lead is left to show or act on.
      const status = out.querySelector('[data-status]');
      status.dataset.status = 'erased';
      status.textContent = 'erased';
      for (const section of out.querySelectorAll('section')) {
        if (section.querySelector('#tags-h, #history-h')) section.remove();
      }
      for (const button of out.querySelectorAll('#export, #erase')) button.disabled = true;
    }),
  );
}

/** "1 message", "2 messages". */
function count(n, noun) {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Export (download) and erasure (confirm, then progress). */
function dataRights(page, psid, onErased) {
  const status = h('div', { id: 'rights-status', role: 'status' });
  const exportButton = h('button', {
    type: 'button',
    id: 'export',
    onclick: async () => {
      status.replaceChildren();
      try {
        // redirect=false: a large export answers with its S3 link as JSON
        // instead of a redirect, which fetch would follow to another
        // origin (refused by the console's connect-src 'self'). The link is
        // then followed by navigation, which connect-src does not govern.
        const doc = await api('GET', withQuery('/v1/export', { page_id: page, psid, redirect: 'false' }));
        const stored = typeof doc?.url === 'string' && Number.isInteger(doc?.expires_in_s) && doc.page_id === undefined;
        const link = stored
          ? h('a', { href: doc.url, id: 'export-link', rel: 'noopener noreferrer', 'data-export': 'link' },
            `Download the export (JSON, ${Math.ceil(doc.bytes / 1024)} KiB; the link works for ${Math.round(doc.expires_in_s / 60)} minutes)`)
          : h('a', {
            href: URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' })),
            download: `optcast-export-${page}-${psid}.json`,
            id: 'export-link',
            'data-export': 'inline',
          }, 'Download the export (JSON)');
        status.replaceChildren(h('p.ok', {}, 'Everything held on this lead, decrypted: ', link, '.'));
        link.focus();
      } catch (err) {
        status.replaceChildren(errorBox(err));
      }
    },
  }, 'Export data');
  const confirm = h('div.confirm', { hidden: true, role: 'group', 'aria-labelledby': 'erase-q', id: 'erase-confirm' },
    h('p', { id: 'erase-q' }, `Erase lead ${psid} of page ${page}? Their data key is destroyed at once, so every message and record of theirs becomes unreadable, backups included. This cannot be undone.`),
    h('button.danger', { type: 'button', id: 'erase-yes', onclick: () => erase() }, 'Yes, erase this lead'),
    h('button', { type: 'button', onclick: () => { confirm.hidden = true; eraseButton.focus(); } }, 'Keep the lead'));
  const eraseButton = h('button.danger', {
    type: 'button',
    id: 'erase',
    onclick: () => { confirm.hidden = false; confirm.querySelector('button').focus(); },
  }, 'Erase lead…');

  const erase = async () => {
    confirm.hidden = true;
    status.replaceChildren(h('p', {}, 'Erasing…'));
    try {
      const { request_id: id } = await api('POST', '/v1/erasure', { page_id: page, psid });
      const check = async () => {
        const r = await api('GET', `/v1/erasure/${seg(id)}`);
        if (r.status === 'pending') {
          status.replaceChildren(h('p', { 'data-erasure': 'pending' }, `Erasure ${id}: the data key is destroyed; deleting the rest…`));
          setTimeout(() => check().catch((err) => status.replaceChildren(errorBox(err))), 1500);
          return;
        }
        const rep = r.report ?? {};
        onErased();
        status.replaceChildren(h('p.ok', { 'data-erasure': r.status },
          r.status === 'completed'
            ? `Erased at ${when(r.completed_at_ms)}: ${count(rep.messages ?? 0, 'message')}, `
              + `${count(rep.consent_records ?? 0, 'consent record')} and ${count(rep.deliveries ?? 0, 'delivery record')} deleted. `
              + 'Only a hashed proof of consent remains.'
            : 'Nothing was held on this lead.'));
      };
      await check();
    } catch (err) {
      status.replaceChildren(errorBox(err));
    }
  };
  return h('section', { 'aria-labelledby': 'rights-h' }, h('h3', { id: 'rights-h' }, 'Data rights'),
    h('div.actions', {}, exportButton, eraseButton), confirm, status);
}
