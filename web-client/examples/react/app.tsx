// A small React page on @ovasabi/edge-client: who is here, named cursors, and
// a toast for referral milestones. Bundle it with any bundler (the browser
// test uses esbuild); the API may live on another origin (?api=…).
import { createRoot } from 'react-dom/client';
import { OvasabiProvider, useCursors, useEvent, useOvasabi, usePresence } from '@ovasabi/edge-client/react';
import { useEffect, useState } from 'react';

function Cursors() {
  const cursors = useCursors();
  return (
    <div aria-hidden="true">
      {cursors.map((c) => (
        <div
          key={c.id}
          className="cursor"
          data-name={c.name ?? ''}
          style={{ position: 'absolute', left: 0, top: 0, transform: `translate(${c.x}px, ${c.y}px)`, opacity: c.opacity, color: c.colour }}
        >
          ➤ <span className="cursor-name">{c.name ?? ''}</span>
        </div>
      ))}
    </div>
  );
}

function Presence() {
  const { active, others, self } = usePresence();
  return (
    <p>
      <span id="active">{active}</span> here now
      {self ? <span id="self" style={{ color: self.colour }}> (you)</span> : null}
      <span id="others">{others.map((o) => o.name ?? 'someone').join(', ')}</span>
    </p>
  );
}

function Milestones() {
  const [last, setLast] = useState('');
  useEvent('referral.milestone', (e) => setLast(`${e.user} now has ${e.count} referrals`));
  return <p id="milestone">{last}</p>;
}

function Status() {
  const { live, status, error } = useOvasabi();
  useEffect(() => live?.trackPointer(), [live]);
  if (error) return <p id="status">Could not connect: {error.message}</p>;
  return <p id="status" data-transport={status.transport ?? ''}>{status.state}</p>;
}

const params = new URLSearchParams(location.search);
const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <OvasabiProvider campaign={params.get('campaign') ?? 'ovasabi-website'} baseUrl={params.get('api') ?? undefined}>
      <Status />
      <Presence />
      <Milestones />
      <Cursors />
    </OvasabiProvider>,
  );
}
