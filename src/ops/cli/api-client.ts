import { CliError, EXIT } from './exit-codes.js';

export interface ApiClientOptions {
  url: string;
  token?: string;
  /** Bulk replays of many events answer only when done. */
  timeoutMs?: number;
}

/** 409 is the CLI's to fix too: e.g. an event id stored for several accounts, where --account says which. */
const statusExit = (status: number) =>
  status === 400 || status === 409 ? EXIT.usage : status === 404 ? EXIT.notFound : status === 401 || status === 403 ? EXIT.unauthorized : EXIT.apiError;

/** The service's HTTP API, with its `{error: {code, message}}` answers turned into exit codes. */
export function createApiClient(options: ApiClientOptions) {
  const base = options.url.replace(/\/+$/, '');

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (!options.token) {
      throw new CliError(EXIT.unauthorized, 'No token: set BILLED_TOKEN or pass --token (ADMIN_TOKEN or one from `billed-ops tokens create`).');
    }
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${options.token}`,
          Accept: 'application/json',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10 * 60_000),
      });
    } catch (error) {
      const detail = (error as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
      const cause = detail?.code ?? detail?.errors?.[0]?.code ?? (error as Error).message;
      throw new CliError(EXIT.unreachable, `Cannot reach the service at ${base} (${cause}): check BILLED_URL / --url.`);
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new CliError(EXIT.apiError, `${method} ${path}: ${res.status}, and the answer is not JSON: is ${base} the Billed service?`);
    }
    if (!res.ok) {
      const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new CliError(statusExit(res.status), `${error?.code ?? `http_${res.status}`}: ${error?.message ?? text}`);
    }
    return json as T;
  }

  return {
    get: <T>(path: string, query: Record<string, string | number | undefined> = {}) => {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
      const qs = params.toString();
      return request<T>('GET', qs ? `${path}?${qs}` : path);
    },
    post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, body),
    delete: <T>(path: string) => request<T>('DELETE', path),
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;
