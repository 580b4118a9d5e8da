/**
 * The canonical field names of each kind of input row. Kept apart from the schemas so that the
 * command line and the writer's thread can name fields without loading zod: on a large load the
 * rows are validated on the parser's thread only, and zod costs each thread about 10 MB.
 */
export const EVENT_FIELDS = ['event_id', 'user_id', 'event_type', 'occurred_at', 'timezone', 'properties'] as const;
/** Read when a source or --map names it: the event's offset from UTC in seconds, kept in occurred_at, not a column of its own. */
export const EVENT_OFFSET = 'utc_offset';
export const EVENT_REQUIRED = ['user_id', 'event_type', 'occurred_at'] as const;

export const MEMBER_FIELDS = ['user_id', 'email', 'first_name', 'last_name', 'birth_date', 'zip', 'state', 'partner', 'share_consent'] as const;
export const MEMBER_REQUIRED = ['user_id'] as const;
