// Compose a broadcast: text, audience tags, schedule; a Messenger-like
// preview that always shows the Unsubscribe control; the dry run
// (POST /v1/broadcasts/preview: audience, excluded and why) before a confirm
// step that creates it (POST /v1/broadcasts).

import { api, withQuery } from './api.js';
import { h, field, form, heading, hashQuery, pageInput, knownPages, when } from './ui.js';

// What each exclusion means, in words (the preview's `excluded` keys).
export const EXCLUDED_WORDS = {
  unsubscribed: 'unsubscribed',
  unreachable: 'cannot be reached (blocked the page or left Messenger)',
  tags_not_matched: 'have none of the audience tags',
  outside_window: 'outside the 24-hour window, with no marketing-messages token',
  marketing_stopped: 'stopped marketing messages',
  marketing_expired: 'marketing-messages token expired',
  marketing_unavailable: "marketing messages are not honoured in the page's region",
  marketing_too_soon: 'had a marketing message in the last 48 hours',
  marketing_hold: "another broadcast's marketing message holds them",
};

/** The Messenger-like bubble of a Send API `message` (or a draft's text). */
export function bubble(message) {
  const text = message.text ?? message.attachment?.payload?.text ?? '';
  const buttons = message.attachment?.payload?.buttons ?? [];
  const quick = message.quick_replies ?? [];
  return h('div.phone', { 'aria-label': 'Message preview', role: 'group' },
    h('div.thread', {},
      h('p.bubble', { 'data-preview-text': '' }, text || '…'),
      buttons.length ? h('div.buttons', {}, buttons.map((b) => h('span.button', {}, b.title))) : null,
      h('div.quick', { 'aria-label': 'Quick replies' },
        quick.map((q) => h('span.chip', { 'data-quick-reply': q.title }, q.title)))));
}

/**
 * Two dry runs' counts added up: each call of the preview counts the next
 * leads of the page (its `next_cursor`), none twice, so the sums are the
 * counts over every lead read. The message and what follows come from the
 * later call.
 */
export function addCounts(a, b) {
  const sum = (x, y) => (x ?? 0) + (y ?? 0);
  const excluded = { ...a.excluded };
  for (const [k, v] of Object.entries(b.excluded)) excluded[k] = sum(excluded[k], v);
  return {
    ...b,
    audience: sum(a.audience, b.audience),
    reach: {
      window: sum(a.reach.window, b.reach.window),
      marketing_token: sum(a.reach.marketing_token, b.reach.marketing_token),
    },
    excluded,
    leads_read: sum(a.leads_read, b.leads_read),
    unreadable: sum(a.unreadable, b.unreadable),
  };
}

/** A draft's text with the Unsubscribe control every broadcast carries. */
function draftMessage(text) {
  return { text, quick_replies: [{ title: 'Unsubscribe' }] };
}

export function composeView(root) {
  document.title = 'Compose · optcast console';
  const q = hashQuery();
  const page = pageInput(q.get('page') ?? undefined);
  // Leads one check reads (`#/compose?limit=N`, 1-10000; the API's default
  // otherwise): a page with more is counted on with "Count the next leads".
  const limit = q.get('limit') ?? undefined;
  const dryRunOf = (b, cursor) => api('POST', withQuery('/v1/broadcasts/preview', { limit, cursor }), b);
  const name = h('input', { name: 'name', maxlength: 200, autocomplete: 'off' });
  const text = h('textarea', { name: 'text', required: true, maxlength: 2000, rows: 5 });
  const tags = h('input', { name: 'tags', autocomplete: 'off' });
  const now = h('input', { type: 'radio', name: 'when', value: 'now', checked: true, id: 'when-now' });
  const later = h('input', { type: 'radio', name: 'when', value: 'later', id: 'when-later' });
  const sendAt = h('input', { type: 'datetime-local', name: 'send_at', id: 'send-at' });
  const preview = h('div.preview', {}, bubble(draftMessage('')));
  const dryRun = h('section.dry-run', { 'aria-live': 'polite', id: 'dry-run' });
  let checked = null; // the body the dry run judged; confirm creates exactly it

  const body = () => {
    const b = { page_id: page.value.trim(), message: { text: text.value } };
    const t = tags.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (t.length) b.tags = t;
    if (name.value.trim()) b.name = name.value.trim();
    if (later.checked) {
      if (!sendAt.value) throw new Error('Choose the date and time to send at, or choose "Send now".');
      b.send_at = new Date(sendAt.value).toISOString();
    }
    return b;
  };
  const invalidate = () => {
    preview.replaceChildren(bubble(draftMessage(text.value)));
    if (checked) {
      checked = null;
      dryRun.replaceChildren(h('p.hint', {}, 'The draft changed: check the audience again before creating it.'));
    }
  };
  for (const el of [page, name, text, tags, now, later, sendAt]) el.addEventListener('input', invalidate);
  sendAt.addEventListener('focus', () => { later.checked = true; });

  const create = form({ id: 'confirm-broadcast', hidden: true }, async () => {
    const out = await api('POST', '/v1/broadcasts', checked);
    knownPages.remember({ page_id: checked.page_id });
    location.hash = `#/broadcasts/${encodeURIComponent(out.id)}`;
  }, h('p', {}, 'Everything above is what will be sent.'),
  h('button', { type: 'submit', id: 'confirm' }, 'Confirm and create broadcast'));

  const showDryRun = (b, out) => {
    preview.replaceChildren(bubble(out.message));
    const excluded = Object.entries(EXCLUDED_WORDS)
      .filter(([k]) => out.excluded[k] > 0)
      .map(([k, words]) => h('li', { 'data-excluded': k }, `${out.excluded[k]} ${words}`));
    dryRun.replaceChildren(...[
      h('h2', {}, 'Who would receive it'),
      h('p.big', {}, h('strong', { 'data-fact': 'audience' }, String(out.audience)),
        out.audience === 1 ? ' lead would receive it' : ' leads would receive it',
        out.send_at_ms ? ` at ${when(out.send_at_ms)}` : ' now', '.'),
      h('p', {}, `${out.reach.window} inside the 24-hour window, ${out.reach.marketing_token} with a marketing-messages token.`),
      h('p', {}, h('strong', { 'data-fact': 'excluded' }, String(out.excluded.total)), ' excluded',
        excluded.length ? ':' : '.'),
      excluded.length ? h('ul.excluded', {}, excluded) : null,
      out.complete ? null : h('p.hint', { id: 'counted-so-far' },
        `Counted over the first ${out.leads_read} leads of the page; there are more.`),
      out.complete || !out.next_cursor ? null : form({ id: 'count-more' }, async () => {
        const more = await dryRunOf(b, out.next_cursor);
        // The draft changed meanwhile: its own check starts over.
        if (checked === b) showDryRun(b, addCounts(out, more));
      }, h('button', { type: 'submit' }, 'Count the next leads')),
      out.unreadable ? h('p.hint', {}, `${out.unreadable} leads could not be read and are not counted.`) : null,
    ].filter(Boolean));
    checked = b;
    create.hidden = false;
    create.querySelector('button').focus();
  };

  root.append(
    heading('Compose a broadcast'),
    h('div.compose', {},
      form({ id: 'compose' }, async () => {
        const b = body();
        create.hidden = true;
        checked = null;
        const out = await dryRunOf(b);
        showDryRun(b, out);
      },
      field('Page id', page),
      field('Name (optional)', name, 'Only you see it, in the broadcast list.'),
      field('Message', text, 'Up to 2000 characters. An Unsubscribe control is always added.'),
      field('Audience tags (optional)', tags, 'Comma-separated: leads with any of these tags. Empty: every subscribed lead.'),
      h('fieldset', {},
        h('legend', {}, 'When'),
        h('div.choice', {}, now, h('label', { for: 'when-now' }, 'Send now')),
        h('div.choice', {}, later, h('label', { for: 'when-later' }, 'Send at')),
        field('Date and time (your time zone)', sendAt)),
      h('button', { type: 'submit', id: 'check' }, 'Check audience')),
      h('aside', { 'aria-label': 'Preview' }, h('h2', {}, 'Preview'), preview)),
    dryRun,
    create,
  );
}
