// What a front-end developer writes, against the package's generated types
// (`npm run build:types` first). It must type-check; each `@ts-expect-error`
// line must not (tsc fails if one of them does).
import { connect, join, requestQuote, OvasabiError, type Live, type Member } from '@ovasabi/edge-client';
import { OvasabiProvider, useCursors, useEvent, usePresence } from '@ovasabi/edge-client/react';

type Announcement = { title: string; url?: string };

export async function plain() {
  const live = await connect<{ announcement: Announcement }>({ campaign: 'ovasabi-website' });
  live.on('referral.milestone', (e) => e.count + e.milestone);
  live.on('user.joined', (e) => e.display_name.toUpperCase());
  live.on('lead.status', (e) => (e.status === 'won' ? e.quote_id : null));
  live.on('presence', ({ active }) => active.toFixed());
  live.on('announcement', (e) => e.title.length);
  live.on('cursors', (cursors) => [...cursors.values()].map((c) => `${c.name ?? '?'} ${c.colour} ${c.x}`));
  live.on('member.joined', (m: Member) => m.name);
  live.on('event', (e) => {
    if (e.type === 'referral.milestone') return e.data.count;
    if (e.type === 'announcement') return e.data.title;
    return null;
  });
  const others: Member[] = live.others;
  live.on('visitors', (visitors) => visitors.map((v) => `${v.name ?? '?'} on ${v.page ?? '?'}`));
  const stop: () => void = live.trackPointer();
  stop();

  // @ts-expect-error a milestone has no `nope`
  live.on('referral.milestone', (e) => e.nope);
  // @ts-expect-error a join carries a display name, not a count
  live.on('user.joined', (e) => e.count);
  // @ts-expect-error no such event: a typo of 'announcement'
  live.on('anouncement', () => {});
  // @ts-expect-error a lead status is one of five names
  live.on('lead.status', (e) => e.status === 'maybe');
  // @ts-expect-error announcement's title is a string
  live.on('announcement', (e) => e.title.toFixed());
  return others;
}

export async function forms(token: string, honeypot: string) {
  // The CAPTCHA widget's token, and the campaign's honeypot field as the hidden input holds it.
  const joined = await join({ campaign: 'ovasabi-website', email: 'ada@example.com', name: 'Ada', captchaToken: token, website: honeypot });
  const quote = await requestQuote({ campaign: 'ovasabi-website', name: 'Ada', email: 'ada@example.com', message: 'Hi', captchaToken: token, website: '' });
  try {
    // @ts-expect-error the CAPTCHA's token is a string
    await join({ campaign: 'ovasabi-website', email: 'ada@example.com', name: 'Ada', captchaToken: 42 });
    // @ts-expect-error a lead needs its message
    await requestQuote({ campaign: 'ovasabi-website', name: 'Ada', email: 'ada@example.com', captchaToken: token });
  } catch (e) {
    if (e instanceof OvasabiError && e.code.startsWith('captcha_')) return e.field;
  }
  return `${joined.referral_code} ${quote.status}`;
}

export function Page() {
  const { active, others, visitors } = usePresence();
  const cursors = useCursors();
  useEvent('referral.milestone', (e) => console.log(e.user, e.count));
  // @ts-expect-error a milestone's count is a number
  useEvent('referral.milestone', (e) => e.count.toUpperCase());
  return (
    <div>
      <p>{active} here; {others.map((o) => o.name ?? 'someone').join(', ')}; {visitors.length} on the site</p>
      {cursors.map((c) => (
        <span key={c.id} style={{ left: c.x, top: c.y, color: c.colour }}>{c.name}</span>
      ))}
    </div>
  );
}

export function App() {
  // @ts-expect-error the campaign is required
  const missing = <OvasabiProvider baseUrl="https://edge.example.com"><Page /></OvasabiProvider>;
  return (
    <OvasabiProvider campaign="ovasabi-website" transport="auto">
      <Page />
      {missing}
    </OvasabiProvider>
  );
}

export type { Live };
