/**
 * Text from input (file names, ids, values) as it may appear in a message or a log line: control
 * characters, including newlines, become escapes (`\n`, `\x1b`, `\u2028`), so an input can neither
 * forge a log line nor drive the terminal. Everything else is kept as it is.
 */
export function escapeText(text: string): string {
  // C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Text for HTML, as element content or a quoted attribute value: the five characters markup gives a meaning. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
