/** The progress bar: on a terminal only. */
import type { Context } from './context.js';

/** A one-line progress bar on stderr, redrawn at most 10 times a second; silent unless interactive. */
export function progressBar(ctx: Context) {
  let last = 0;
  let started = Date.now();
  let shown = false;
  return {
    start() {
      started = Date.now();
    },
    update(label: string, rows: number, bytes: number, size: number) {
      if (!ctx.interactive) return;
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const secs = Math.max((now - started) / 1000, 0.001);
      const pct = size > 0 ? Math.min(1, bytes / size) : 0;
      const width = 24;
      const filled = Math.round(pct * width);
      const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
      const line = `${label} [${bar}] ${(pct * 100).toFixed(0).padStart(3)}%  ${rows.toLocaleString('en-US')} rows  ${mib(bytes)}/${mib(size)}  ${Math.round(rows / secs).toLocaleString('en-US')} rows/s`;
      ctx.stderr.write(`\r\x1b[2K${line}`);
      shown = true;
    },
    done() {
      if (shown) ctx.stderr.write('\r\x1b[2K');
      shown = false;
    },
  };
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}
