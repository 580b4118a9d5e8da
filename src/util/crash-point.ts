/**
 * Named points where a crash is tested. `REWARDS_CRASH_AT=<name>` makes the process send itself
 * SIGKILL when it reaches that point (at its `n`th pass with `<name>#<n>`; another signal with
 * `REWARDS_CRASH_SIGNAL`, e.g. SIGINT): the same as a `kill -9` landing there, but at a known place,
 * so that crash tests replay exactly instead of timing kills from outside. Unset (always, outside
 * tests), a crash point does nothing.
 */
const [name = '', nth = '1'] = (process.env.REWARDS_CRASH_AT ?? '').split('#');
const signal = (process.env.REWARDS_CRASH_SIGNAL ?? 'SIGKILL') as NodeJS.Signals;
let passes = 0;

export function crashPoint(point: string): void {
  if (name === '' || point !== name) return;
  if (++passes === Number(nth)) process.kill(process.pid, signal);
}
