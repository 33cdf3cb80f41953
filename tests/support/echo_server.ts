/**
 * A TCP echo server on 127.0.0.1 for the forwarding tests: it sends back
 * what it reads and closes its side when the peer closed its own.
 *
 * @module
 */

import { createServer, type Socket } from "node:net";

/** A running echo server. */
export interface EchoServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts an echo server on a free port. */
export function startEchoServer(): Promise<EchoServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      resolve({
        port,
        get connections() {
          return connections;
        },
        [Symbol.asyncDispose]: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A port that nothing listens on (bound, then released). */
export function closedPort(): Promise<number> {
  const server = createServer();
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
