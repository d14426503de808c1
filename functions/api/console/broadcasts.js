// The broadcast list (by page and state) and one broadcast's live progress:
// counts, outcomes, the chart, pause / resume / cancel, and "why wasn't this
// lead messaged?".

import { api, describe, seg, withQuery } from './api.js';
import { h, errorBox, facts, field, form, hashQuery, heading, knownPages, pageInput, percent, when } from './ui.js';
import { progressChart } from './chart.js';

const STATES = ['scheduled', 'planning', 'sending', 'paused', 'done', 'cancelled'];
const LIVE = new Set(['scheduled', 'planning', 'sending', 'paused']);
const POLL_MS = 2000;
const DONE_POLL_MS = 5000;

function stateBadge(state) {
  return h('span.state', { 'data-state': state }, state);
}

export function broadcastsView(root) {
  document.title = 'Broadcasts · optcast console';
  const q = hashQuery();
  const page = pageInput(q.get('page') ?? undefined);
  const state = h('select', { name: 'state', value: q.get('state') ?? '' },
    h('option', { value: '' }, 'any state'), STATES.map((s) => h('option', { value: s }, s)));
  const results = h('div', { id: 'broadcast-list', 'aria-live': 'polite' });
  let cursor = null;
  let rows = null;

  const load = async (more) => {
    const out = await api('GET', withQuery('/v1/broadcasts', {
      page_id: page.value.trim(), state: state.value, cursor: more ? cursor : null, limit: 20,
    }));
    knownPages.remember({ page_id: page.value.trim() });
    cursor = out.next_cursor;
    if (!more) {
      rows = h('tbody');
      results.replaceChildren(h('table', {},
        h('caption', {}, `Broadcasts of page ${page.value.trim()}, newest first`),
        h('thead', {}, h('tr', {}, ['Broadcast', 'State', 'Sends at', 'Created', 'Audience tags']
          .map((t) => h('th', { scope: 'col' }, t)))),
        rows));
    }
    rows.append(...out.broadcasts.map((b) => h('tr', { 'data-broadcast': b.id },
      h('td', {}, h('a', { href: `#/broadcasts/${seg(b.id)}` }, b.name || `Broadcast ${b.id}`)),
      h('td', {}, stateBadge(b.state), b.paused_reason ? h('small.hint', {}, ` ${b.paused_reason}`) : null),
      h('td', {}, b.send_at_ms ? when(b.send_at_ms) : 'now'),
      h('td', {}, when(b.created_at_ms)),
      h('td', {}, b.tags.length ? b.tags.join(', ') : 'every subscribed lead'))));
    if (out.broadcasts.length === 0 && !more) {
      results.replaceChildren(h('p', {}, 'No broadcast matches.'));
    }
    if (cursor) results.append(h('button', { type: 'button', onclick: (ev) => { ev.target.remove(); load(true).catch((err) => results.append(errorBox(err))); } }, 'Show more'));
  };

  root.append(
    heading('Broadcasts'),
    h('p', {}, h('a', { href: '#/compose' }, 'Compose a broadcast')),
    form({ id: 'filter', class: 'inline' }, () => load(false),
      field('Page id', page), field('State', state), h('button', { type: 'submit' }, 'Show')),
    results,
  );
  if (page.value) load(false).catch((err) => results.replaceChildren(errorBox(err)));
}

// Why a lead was not sent (the recipients route's `reason`), in words.
const REASON_WORDS = {
  unsubscribed: 'they had unsubscribed when it was sent',
  unreachable: 'they cannot be reached (blocked the page or left Messenger)',
  erased: 'their data was erased',
  outside_window: 'they were outside the 24-hour window and had no marketing-messages token',
  marketing_stopped: 'they stopped marketing messages',
  marketing_expired: 'their marketing-messages token had expired',
  marketing_unavailable: "Meta does not honour marketing messages in the page's region",
  marketing_too_soon: 'they had a marketing message in the 48 hours before',
  marketing_hold: "another broadcast's marketing message held their 48 hours",
  meta_policy: 'Meta refused the send by policy',
  retention_expired: "it waited, paused, longer than the page keeps data, and was deleted",
  blocked: 'Meta said they cannot be reached',
  meta_rejected: 'Meta refused the request',
  stale_claim: 'the send was interrupted and is never repeated (it may or may not have arrived)',
};

/** A count's breakdown by reason code (`skipped_by_reason`, `failed_by_reason`), one row each. */
function byReason(counts, kind) {
  return Object.entries(counts || {})
    .filter(([, n]) => n > 0)
    .map(([code, n]) => [`\u2003${code.replaceAll('_', ' ')}`, n, `${kind}_${code}`]);
}

/** One sentence for a recipient record. */
export function recipientWords(r) {
  switch (r.state) {
    case 'sent': {
      const parts = [`Sent at ${when(r.sent_at_ms)}`];
      if (r.read_at_ms) parts.push(`read by ${when(r.read_at_ms)}`);
      else if (r.delivered_at_ms) parts.push(`delivered by ${when(r.delivered_at_ms)}`);
      if (r.unsubscribed_at_ms) parts.push(`unsubscribed at ${when(r.unsubscribed_at_ms)}`);
      return `${parts.join(', ')}.`;
    }
    case 'claimed': return 'Being sent right now.';
    case 'parked': return 'Waiting: the broadcast is paused; resuming it sends this lead.';
    case 'failed': return `Not sent: ${REASON_WORDS[r.reason] ?? r.reason ?? 'the send failed'}.`;
    default: return `Not sent: ${REASON_WORDS[r.reason] ?? r.reason ?? r.state}.`;
  }
}

export function broadcastView(root, id) {
  document.title = `Broadcast ${id} · optcast console`;
  const title = heading(`Broadcast ${id}`);
  const live = h('div', { id: 'broadcast', 'aria-live': 'off' });
  const problem = h('div', { role: 'alert' });
  const controlStatus = h('div', { role: 'status' });
  let current = null;

  const act = (action) => async () => {
    controlStatus.replaceChildren();
    try {
      await api('POST', `/v1/broadcasts/${seg(id)}/${action}`);
      controlStatus.replaceChildren(h('p.ok', {}, {
        pause: 'Paused: no new message is sent until you resume.',
        resume: 'Resumed: sending goes on where it stopped.',
        cancel: 'Cancelled: nothing more will be sent.',
      }[action]));
      await refresh();
    } catch (err) {
      controlStatus.replaceChildren(errorBox(err));
    }
  };
  const pause = h('button', { type: 'button', id: 'pause', onclick: act('pause') }, 'Pause');
  const resume = h('button', { type: 'button', id: 'resume', onclick: act('resume') }, 'Resume');
  const cancelConfirm = h('div.confirm', { hidden: true, role: 'group', 'aria-labelledby': 'cancel-q' },
    h('p', { id: 'cancel-q' }, 'Cancel this broadcast? Leads not sent yet will not receive it. This cannot be undone.'),
    h('button.danger', { type: 'button', id: 'cancel-yes', onclick: async () => { cancelConfirm.hidden = true; await act('cancel')(); } }, 'Yes, cancel the broadcast'),
    h('button', { type: 'button', onclick: () => { cancelConfirm.hidden = true; cancel.focus(); } }, 'Keep it'));
  const cancel = h('button', { type: 'button', id: 'cancel', onclick: () => { cancelConfirm.hidden = false; cancelConfirm.querySelector('button').focus(); } }, 'Cancel broadcast…');

  const psid = h('input', { name: 'psid', required: true, inputmode: 'numeric', pattern: '[1-9][0-9]{0,19}', autocomplete: 'off' });
  const why = h('div', { id: 'why-answer', role: 'status' });
  const whyForm = form({ id: 'why' }, async () => {
    why.replaceChildren();
    try {
      const r = await api('GET', `/v1/broadcasts/${seg(id)}/recipients/${seg(psid.value.trim())}`);
      why.replaceChildren(h('p', { 'data-recipient-state': r.state }, recipientWords(r)));
    } catch (err) {
      if (err.status !== 404 || !['not_in_audience', 'not_recorded'].includes(err.code)) throw err;
      why.replaceChildren(h('p', { 'data-recipient-state': err.code }, err.code === 'not_in_audience'
        ? 'Not in the audience: not a subscribed lead with the audience tags when the broadcast was planned.'
        : `Nothing recorded yet: ${err.message}`));
    }
  }, field('Lead (PSID)', psid), h('button', { type: 'submit' }, 'Explain'));

  const draw = (b) => {
    current = b;
    title.textContent = b.name || `Broadcast ${b.id}`;
    const c = b.counts;
    const o = b.outcomes;
    const errors = Object.entries(o.meta_errors);
    live.replaceChildren(
      h('p.status-line', {}, stateBadge(b.state),
        b.state === 'scheduled' ? ` sends at ${when(b.send_at_ms)}` : null,
        b.paused_reason ? h('span.reason', {}, ` ${b.paused_reason}`) : null),
      h('div.columns', {},
        h('section', {}, h('h2', {}, 'Sending'), facts([
          ['Audience', c.audience, 'audience'], ['Queued', c.queued, 'queued'], ['Sent', c.sent, 'sent'],
          ['Skipped: unsubscribed', c.skipped_unsubscribed, 'skipped_unsubscribed'],
          ['Skipped: policy', c.skipped_policy, 'skipped_policy'],
          ...byReason(c.skipped_by_reason, 'skipped'),
          ['Failed', c.failed, 'failed'],
          ...byReason(c.failed_by_reason, 'failed'),
        ])),
        h('section', {}, h('h2', {}, 'What it did'), facts([
          ['Delivered', `${o.delivered} (${percent(o.rates.delivered)})`, 'delivered'],
          ['Read', `${o.read} (${percent(o.rates.read)})`, 'read'],
          ['Unsubscribed', `${o.unsubscribed} (${percent(o.rates.unsubscribed)})`, 'unsubscribed'],
          ['Blocked', `${o.blocked} (${percent(o.rates.blocked)})`, 'blocked'],
        ])),
        h('section', {}, h('h2', {}, 'About'), facts([
          ['Page', h('a', { href: `#/broadcasts?page=${seg(b.page_id)}` }, b.page_id)],
          ['Audience tags', b.tags.length ? b.tags.join(', ') : 'every subscribed lead'],
          ['Sends at', b.send_at_ms ? when(b.send_at_ms) : 'at creation'],
          ['Created', when(b.created_at_ms)],
          ["Meta's errors", errors.length ? errors.map(([k, n]) => `${k}: ${n}`).join(', ') : 'none'],
        ]))),
      h('section', {}, h('h2', {}, 'Over time'), progressChart(b.timeseries)),
    );
    pause.disabled = !['planning', 'sending'].includes(b.state);
    resume.disabled = b.state !== 'paused';
    cancel.disabled = !LIVE.has(b.state);
  };

  let timer = null;
  let stopped = false;
  const refresh = async () => {
    try {
      draw(await api('GET', `/v1/broadcasts/${seg(id)}`));
      problem.replaceChildren();
    } catch (err) {
      problem.replaceChildren(h('p.error', {}, describe(err)));
    }
  };
  const poll = async () => {
    await refresh();
    if (stopped) return;
    // A done broadcast still gathers deliveries, reads and unsubscribes: slower.
    if (!current || LIVE.has(current.state)) timer = setTimeout(poll, POLL_MS);
    else if (current.state === 'done') timer = setTimeout(poll, DONE_POLL_MS);
  };
  root.append(title, problem, live,
    h('section', { 'aria-labelledby': 'control-h' }, h('h2', { id: 'control-h' }, 'Control'),
      h('div.actions', {}, pause, resume, cancel), cancelConfirm, controlStatus),
    h('section', { 'aria-labelledby': 'why-h' }, h('h2', { id: 'why-h' }, "Why wasn't this lead messaged?"), whyForm, why));
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
