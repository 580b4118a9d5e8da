/** Generated inputs shared by suites (the crash tests and the engine comparison). */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

const TYPES = ['steps', 'sleep', 'meal', 'workout', 'water'];
const ZONES = ['', '', '', 'America/New_York', 'Europe/Berlin', 'Asia/Tokyo'];

/**
 * A deterministic events export of `rows` records over March 2026 and 20,000 members: missing ids
 * (derived), exact duplicates, conflicting duplicates, bad rows, UTC, offset and naive times, and
 * members in several zones.
 */
export async function generateMessyEvents(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('event_id,user_id,event_type,occurred_at,timezone,properties,app_version\n');
  const pad = (n: number) => String(n).padStart(2, '0');
  let buf = '';
  for (let i = 0; i < rows; i++) {
    const day = 1 + (i % 28);
    const hour = (i * 7) % 24;
    const user = `u${(i * 7919) % 20_000}`;
    const type = TYPES[i % TYPES.length]!;
    const zone = ZONES[i % ZONES.length]!;
    const offset = ['Z', '-05:00', '+02:00', ''][i % 4]!;
    let id = i % 9 === 0 ? '' : `e${i}`;
    let occurred = `2026-03-${pad(day)}T${pad(hour)}:${pad(i % 60)}:00${offset}`;
    let props = `"{""n"":${i % 100},""src"":""gen""}"`;
    if (i % 50 === 49) {
      // an exact duplicate of an earlier row (same id and content)
      const j = i - 25;
      if (j % 9 !== 0) {
        id = `e${j}`;
        occurred = `2026-03-${pad(1 + (j % 28))}T${pad((j * 7) % 24)}:${pad(j % 60)}:00${['Z', '-05:00', '+02:00', ''][j % 4]}`;
        props = `"{""n"":${j % 100},""src"":""gen""}"`;
        buf += `${id},u${(j * 7919) % 20_000},${TYPES[j % TYPES.length]},${occurred},${ZONES[j % ZONES.length]},${props},1.0\n`;
        continue;
      }
    }
    if (i % 97 === 96) id = `e${i - 40}`; // a conflicting duplicate: same id, other content
    if (i % 1000 === 500) occurred = `2026-02-30T10:00:00Z`; // a bad row
    buf += `${id},${user},${type},${occurred},${zone},${props},1.${i % 3}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}

