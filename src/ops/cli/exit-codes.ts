/** Exit codes scripts can rely on (docs/operations.md, "Ops CLI"). */
export const EXIT = {
  ok: 0,
  /** The service answered with an error of its own (5xx) or something that is not the API. */
  apiError: 1,
  /** Bad command line, or the service rejected the input (400), or needs more of it (409: which account's copy of an event). */
  usage: 2,
  /** The event or token does not exist (404). */
  notFound: 3,
  /** No token, an unknown or revoked one (401), or the wrong role (403). */
  unauthorized: 4,
  /** The service could not be reached at all. */
  unreachable: 5,
} as const;

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
