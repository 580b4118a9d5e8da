/**
 * Typed errors that carry their sysexits(3) exit code. The core throws these; only src/cli.ts turns
 * them into an exit status, so every command reports failures the same way.
 */
export const EXIT = {
  OK: 0,
  BUG: 1,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  UNAVAILABLE: 69,
  CANTCREAT: 73,
  TEMPFAIL: 75,
  CONFIG: 78,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class RewardsError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * A failure the command has already reported, line by line, on stderr (a batch report, a night's
 * summary): it carries only the exit code, and src/cli.ts prints nothing more.
 */
export class ReportedError extends RewardsError {
  constructor(exitCode: ExitCode) {
    super('', exitCode);
  }
}

/** A service the tool needs did not answer, after the retries it is allowed (69). */
export class UnavailableError extends RewardsError {
  constructor(message: string) {
    super(message, EXIT.UNAVAILABLE);
  }
}

/** Wrong flags or arguments (64). */
export class UsageError extends RewardsError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
  }
}

/** Input data that cannot be accepted (65). */
export class DataError extends RewardsError {
  constructor(message: string) {
    super(message, EXIT.DATAERR);
  }
}

/** An input file or database that does not exist or cannot be read (66). */
export class NoInputError extends RewardsError {
  constructor(message: string) {
    super(message, EXIT.NOINPUT);
  }
}

/** An output that cannot be created or written (73). */
export class CantCreateError extends RewardsError {
  constructor(message: string) {
    super(message, EXIT.CANTCREAT);
  }
}

/** Another process holds the lock: retry later (75). */
export class BusyError extends RewardsError {
  constructor(message: string) {
    super(message, EXIT.TEMPFAIL);
  }
}

/** A bad or missing configuration (78). */
export class ConfigError extends RewardsError {
  constructor(message: string) {
    super(message, EXIT.CONFIG);
  }
}

/** Turns a Node fs error on `path` into the matching typed error. */
export function fsError(err: unknown, path: string, action: 'read' | 'write'): RewardsError {
  if (err instanceof RewardsError) return err; // already says what and where
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = (err as Error | undefined)?.message ?? String(err);
  if (action === 'read') {
    if (code === 'ENOENT') return new NoInputError(`${path}: no such file; check the path`);
    if (code === 'EACCES') return new NoInputError(`${path}: permission denied; check the file's permissions`);
    if (code === 'EISDIR') return new NoInputError(`${path}: is a directory, not a file`);
    return new NoInputError(`${path}: cannot read (${detail})`);
  }
  if (code === 'ENOSPC') return new CantCreateError(`${path}: no space left on device; free some space and rerun`);
  if (code === 'EACCES') return new CantCreateError(`${path}: permission denied; check the folder's permissions`);
  if (code === 'EEXIST' || code === 'ELOOP') {
    return new CantCreateError(`${path}: something already stands where rewards creates a new file (${detail}); nothing was written through it: remove it and rerun`);
  }
  return new CantCreateError(`${path}: cannot write (${detail})`);
}
