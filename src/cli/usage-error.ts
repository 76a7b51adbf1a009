/** A mistake in the command line, reported as one line on stderr without a stack trace. */
export class UsageError extends Error {}
