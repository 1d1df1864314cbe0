import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

const run = promisify(execFile);

/** Every private cluster node still alive; killed if the test process exits without cleaning up. */
const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

/**
 * How long a master may not answer before its replica takes over. Redis's default is 15 s; a
 * test wants the failover within a few seconds.
 */
const NODE_TIMEOUT_MS = 2000;

interface ClusterNode {
  port: number;
  /** The cluster bus port (by default port + 10000, which may be taken or past 65535): picked free too. */
  busPort: number;
  child?: ChildProcess;
  output: string;
}

/**
 * A Redis Cluster of the test's own: `masters` masters with one replica each, on free ports of
 * 127.0.0.1, with no persistence, in a temporary directory (their nodes.conf files) removed by
 * stop(). Made as an operator would: `redis-server --cluster-enabled yes` per node, then
 * `redis-cli --cluster create ... --cluster-replicas 1`. The shared Redis on 6379 is never touched.
 */
export class PrivateRedisCluster {
  private constructor(
    private readonly dir: string,
    private readonly nodes: ClusterNode[],
    private readonly masterCount: number,
    private readonly tls: boolean,
  ) {}

  /**
   * Starts the nodes, creates the cluster, and resolves once every node says cluster_state:ok.
   * With `tls`, every node speaks TLS only (clients, the cluster bus and replication), with a
   * certificate for 127.0.0.1 from a CA made for the run (`caFile`: give it to the client).
   */
  static async start(masters = 3, options: { tls?: boolean } = {}): Promise<PrivateRedisCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'billed-redis-cluster-'));
    const nodes: ClusterNode[] = [];
    const cluster = new PrivateRedisCluster(dir, nodes, masters, options.tls === true);
    try {
      if (cluster.tls) await cluster.makeCertificates();
      for (let i = 0; i < masters * 2; i++) nodes.push({ port: await freePort(), busPort: await freePort(), output: '' });
      await Promise.all(nodes.map((node) => cluster.startNode(node)));
      await run('redis-cli', [...cluster.cliTls(), '--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '1', '--cluster-yes'], {
        timeout: 30_000,
      });
      await cluster.waitHealthy();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** `redis+cluster://` (`rediss+cluster://` with TLS) with every node as a seed (the service needs one that answers). */
  get url(): string {
    return `${this.tls ? 'rediss' : 'redis'}+cluster://${this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',')}`;
  }

  /** The CA that signed the nodes' certificate (TLS only): a client trusts it, e.g. through NODE_EXTRA_CA_CERTS. */
  get caFile(): string {
    return join(this.dir, 'ca.crt');
  }

  private cliTls(): string[] {
    return this.tls ? ['--tls', '--cacert', this.caFile] : [];
  }

  /** A CA, and a certificate for 127.0.0.1 it signed (openssl, in the cluster's directory). */
  private async makeCertificates(): Promise<void> {
    const at = (name: string) => join(this.dir, name);
    const openssl = (...args: string[]) => run('openssl', args, { timeout: 30_000 });
    await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=billed test CA', '-keyout', at('ca.key'), '-out', at('ca.crt'));
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', at('node.key'), '-out', at('node.csr'));
    await writeFile(at('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    await openssl('x509', '-req', '-in', at('node.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', at('san.ext'), '-out', at('node.crt'));
  }

  get ports(): number[] {
    return this.nodes.map((node) => node.port);
  }

  private async startNode(node: ClusterNode): Promise<void> {
    const tls = this.tls
      ? [
          '--port', '0',
          '--tls-port', String(node.port),
          '--tls-cert-file', join(this.dir, 'node.crt'),
          '--tls-key-file', join(this.dir, 'node.key'),
          '--tls-ca-cert-file', this.caFile,
          '--tls-cluster', 'yes',
          '--tls-replication', 'yes',
          '--tls-auth-clients', 'no',
        ]
      : ['--port', String(node.port)];
    const child = spawn(
      'redis-server',
      [
        ...tls,
        '--cluster-port', String(node.busPort),
        '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes',
        '--cluster-config-file', `nodes-${node.port}.conf`,
        '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
        // A replica takes over however long it has been out of touch (the default refuses one that lagged for long).
        '--cluster-replica-validity-factor', '0',
        '--dir', this.dir,
        '--save', '',
        '--appendonly', 'no',
        '--loglevel', 'notice',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    node.child = child;
    alive.add(child);
    child.once('exit', () => {
      alive.delete(child);
      if (node.child === child) node.child = undefined;
    });
    const keep = (chunk: Buffer) => {
      node.output = (node.output + chunk.toString('utf8')).slice(-8000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    await waitFor(`redis-server on port ${node.port} to accept connections`, () => {
      if (!node.child) throw new Error(`redis-server on port ${node.port} exited:\n${node.output}`);
      return node.output.includes('Ready to accept connections');
    }, 10_000);
  }

  /** CLUSTER INFO of one node, as key → value. */
  private async clusterInfo(port: number): Promise<Record<string, string>> {
    const { stdout } = await run('redis-cli', [...this.cliTls(), '-p', String(port), 'cluster', 'info'], { timeout: 5000 });
    return Object.fromEntries(stdout.split(/\r?\n/).filter((line) => line.includes(':')).map((line) => line.trim().split(':') as [string, string]));
  }

  /** The running nodes' roles, from CLUSTER NODES of one of them: port → master | slave (a master that still serves no slot counts too). */
  async roles(): Promise<Map<number, 'master' | 'slave'>> {
    const port = this.nodes.find((node) => node.child)!.port;
    const { stdout } = await run('redis-cli', [...this.cliTls(), '-p', String(port), 'cluster', 'nodes'], { timeout: 5000 });
    const roles = new Map<number, 'master' | 'slave'>();
    for (const line of stdout.split('\n').filter(Boolean)) {
      const [, address, flags] = line.split(' ');
      const nodePort = Number(/:(\d+)@/.exec(address ?? '')?.[1]);
      // A node flagged failed, or one this test killed (before the others notice), has no role.
      if (flags?.includes('fail') || !this.nodes.some((node) => node.port === nodePort && node.child)) continue;
      roles.set(nodePort, flags?.includes('master') ? 'master' : 'slave');
    }
    return roles;
  }

  /** The running masters' ports. */
  async masters(): Promise<number[]> {
    return [...(await this.roles())].filter(([, role]) => role === 'master').map(([port]) => port);
  }

  /**
   * Waits until every running node reports cluster_state:ok with all 16384 slots served, by as
   * many masters as at the start (a failed one replaced by its replica). With `replicated`, each
   * master also has a replica again (right after creation they attach a moment after the slots
   * are served: a master killed before has no replica to take over).
   */
  async waitHealthy(timeoutMs = 30_000, replicated = true): Promise<void> {
    await waitFor(
      'the Redis Cluster to report cluster_state:ok on every running node',
      async () => {
        const infos = await Promise.all(this.nodes.filter((node) => node.child).map((node) => this.clusterInfo(node.port)));
        if (!infos.every((info) => info.cluster_state === 'ok' && info.cluster_slots_ok === '16384')) return false;
        const roles = [...(await this.roles()).values()];
        return roles.filter((role) => role === 'master').length === this.masterCount && (!replicated || roles.filter((role) => role === 'slave').length === this.masterCount);
      },
      timeoutMs,
      200,
    );
  }

  /** kill -9 of one node (no shutdown, no save), resolving once its process is gone. */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((candidate) => candidate.port === port);
    const child = node?.child;
    if (!child) throw new Error(`no running cluster node on port ${port}`);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Kills every node (each by its own pid) and removes the directory: call it in an after hook, pass or fail. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        const child = node.child;
        if (!child) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}
