import net, { type AddressInfo } from 'node:net';

type Mode = 'forward' | 'blackhole' | 'refuse';

/**
 * A TCP proxy on 127.0.0.1 that a test can break on purpose, to put a network
 * fault between the service and a server (MySQL) without touching the server:
 *
 * - `refuse()`: existing connections are cut and the port stops listening, so
 *   new connections are refused at once (the server is down).
 * - `blackhole()`: existing connections are cut; new ones are accepted and then
 *   held open in silence, nothing forwarded (a dead host, a dropped route).
 * - `restore()`: forwards again, on the same port; connections held by the
 *   black hole are forwarded from then on.
 * - `close()`: cuts everything and stops listening for good.
 */
export class TcpProxy {
  private server?: net.Server;
  private mode: Mode = 'forward';
  /** Every socket on either side of the proxy, so a fault can cut them all. */
  private readonly sockets = new Set<net.Socket>();
  /** Client sockets the black hole accepted and holds. */
  private readonly held = new Set<net.Socket>();
  private closed = false;

  private constructor(
    private readonly target: { host: string; port: number },
    private boundPort = 0,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await proxy.listen();
    return proxy;
  }

  /** The port the proxy listens on (the same across refuse()/restore()). */
  get port(): number {
    return this.boundPort;
  }

  async refuse(): Promise<void> {
    this.mode = 'refuse';
    this.cutAll();
    await this.unlisten();
  }

  async blackhole(): Promise<void> {
    this.mode = 'blackhole';
    this.cutAll();
    await this.listen();
  }

  async restore(): Promise<void> {
    if (this.closed) return;
    this.mode = 'forward';
    await this.listen();
    for (const client of this.held) this.forward(client);
    this.held.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.mode = 'refuse';
    this.cutAll();
    await this.unlisten();
  }

  private async listen(): Promise<void> {
    if (this.server || this.closed) return;
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as AddressInfo).port;
    this.server = server;
  }

  private async unlisten(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private cutAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.held.clear();
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.held.delete(socket);
    });
  }

  private accept(client: net.Socket): void {
    this.track(client);
    if (this.mode === 'forward') this.forward(client);
    else if (this.mode === 'blackhole') this.held.add(client);
    else client.destroy();
  }

  private forward(client: net.Socket): void {
    if (client.destroyed) return;
    const upstream = net.connect(this.target.port, this.target.host);
    this.track(upstream);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
