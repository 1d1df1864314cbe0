/**
 * REDIS_URL's two forms: one Redis (`redis://`, `rediss://` with TLS), which ioredis reads
 * itself, or a Redis Cluster given by seed nodes (`redis+cluster://host:port,host:port`,
 * `rediss+cluster://` with TLS), which WHATWG URL cannot parse (a comma list is not a host), so
 * it is parsed here. Pure: the config schema validates with it, src/redis connects with it.
 */

export interface ClusterNodeAddress {
  host: string;
  port: number;
}

export type RedisTarget =
  | {
      kind: 'single';
      url: string;
      /** host:port, for log lines. */
      address: string;
      host: string;
    }
  | {
      kind: 'cluster';
      /** Seed nodes: the client asks any of them for the slot map, then talks to every master. */
      nodes: ClusterNodeAddress[];
      username?: string;
      password?: string;
      tls: boolean;
      /** The seeds, for log lines. */
      address: string;
      /** The first seed's host. */
      host: string;
    };

export const REDIS_URL_EXAMPLES = 'redis://127.0.0.1:6379, or redis+cluster://10.0.0.1:6379,10.0.0.2:6379 for a Redis Cluster';

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(\?[^#]*)?(#.*)?$/i;

/** `host:port` or `[v6]:port`; the port defaults to 6379. */
function parseNode(text: string): ClusterNodeAddress | string {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(text);
  if (!match) return `"${text}" is not host:port`;
  const port = match[3] === undefined ? 6379 : Number(match[3]);
  if (port < 1 || port > 65535) return `"${text}" has a port outside 1-65535`;
  return { host: match[1] ?? match[2]!, port };
}

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/** The target REDIS_URL names, or a message saying what is wrong with it (for the config error). */
export function parseRedisUrl(value: string): RedisTarget | { problem: string } {
  const cluster = CLUSTER_URL.exec(value.trim());
  if (cluster) {
    const [, scheme, userinfo, hostList, path, query, fragment] = cluster;
    if (path && path !== '/') return { problem: `a Redis Cluster has only database 0: remove "${path}"` };
    if (query || fragment) return { problem: 'takes no ?options on a cluster: write redis+cluster://[user:password@]host:port,host:port' };
    const nodes: ClusterNodeAddress[] = [];
    for (const text of hostList!.split(',').map((part) => part.trim())) {
      if (text === '') continue;
      const node = parseNode(text);
      if (typeof node === 'string') return { problem: `${node}: list the cluster's nodes as host:port,host:port` };
      nodes.push(node);
    }
    if (nodes.length === 0) return { problem: 'names no cluster node: write redis+cluster://host:port,host:port (any of the nodes will do; list several in case one is down)' };
    let username: string | undefined;
    let password: string | undefined;
    if (userinfo !== undefined) {
      const [user = '', ...rest] = userinfo.split(':');
      username = decode(user);
      password = rest.length > 0 ? decode(rest.join(':')) : undefined;
      if (username === undefined || (rest.length > 0 && password === undefined)) {
        return { problem: 'has a malformed %-escape in its user or password: write a special character as %XX (e.g. @ as %40, % as %25)' };
      }
    }
    return {
      kind: 'cluster',
      nodes,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      tls: scheme!.toLowerCase() === 'rediss',
      address: `${nodes.map((node) => (node.host.includes(':') ? `[${node.host}]` : node.host) + `:${node.port}`).join(',')} (cluster)`,
      host: nodes[0]!.host,
    };
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: `must be a URL like ${REDIS_URL_EXAMPLES}` };
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return { problem: `must be a URL like ${REDIS_URL_EXAMPLES}` };
  return { kind: 'single', url: value, address: `${url.hostname}:${url.port || 6379}`, host: url.hostname };
}

/** For callers past config validation: the target, or a throw (the schema refuses what this cannot read). */
export function redisTarget(value: string): RedisTarget {
  const parsed = parseRedisUrl(value);
  if ('problem' in parsed) throw new Error(`REDIS_URL ${parsed.problem}`);
  return parsed;
}
