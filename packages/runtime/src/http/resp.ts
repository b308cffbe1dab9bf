// A minimal Redis client (RESP2 over node:net) for the few commands the shared rate limiter needs:
// pipelined requests on one connection, reconnect on the next command after a drop, and a timeout per
// command so a stalled Redis costs a request a bounded delay, never a hang.
import { connect, type Socket } from "node:net";

export type RespValue = string | number | null | RespValue[];

export class RespError extends Error {
  override readonly name = "RespError";
}

interface Pending {
  resolve: (v: RespValue) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const encode = (args: readonly (string | number)[]) => {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
};

/** Parses one reply at `at`; undefined when the buffer does not hold all of it yet. */
function parse(buf: Buffer, at: number): { value: RespValue | RespError; next: number } | undefined {
  const eol = buf.indexOf("\r\n", at);
  if (eol < 0) return undefined;
  const line = buf.toString("utf8", at + 1, eol);
  switch (buf[at]) {
    case 0x2b: // +
      return { value: line, next: eol + 2 };
    case 0x2d: // -
      return { value: new RespError(line), next: eol + 2 };
    case 0x3a: // :
      return { value: Number(line), next: eol + 2 };
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return undefined;
      return { value: buf.toString("utf8", eol + 2, eol + 2 + n), next: eol + 2 + n + 2 };
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return { value: null, next: eol + 2 };
      const items: RespValue[] = [];
      let next = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, next);
        if (!item) return undefined;
        if (item.value instanceof RespError) return item;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new RespError(`unexpected reply byte ${buf[at]}`);
  }
}

export class RespClient {
  private socket?: Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly pending: Pending[] = [];
  private closed = false;

  private readonly url: URL;
  private readonly timeoutMs;

  constructor(url: URL, timeoutMs = 250) {
    this.url = url;
    this.timeoutMs = timeoutMs;
  }

  command(...args: (string | number)[]): Promise<RespValue> {
    if (this.closed) return Promise.reject(new Error("redis client closed"));
    const socket = this.socket ?? this.open();
    return new Promise<RespValue>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`redis did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.pending.push({ resolve, reject, timer });
      socket.write(encode(args));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.fail(new Error("redis client closed"));
  }

  private open(): Socket {
    const socket = connect({ host: this.url.hostname || "127.0.0.1", port: Number(this.url.port || 6379) });
    socket.setNoDelay(true);
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    // AUTH and SELECT go first on the connection; their replies are consumed like any other.
    const password = decodeURIComponent(this.url.password);
    if (password) this.silent(this.url.username ? ["AUTH", decodeURIComponent(this.url.username), password] : ["AUTH", password]);
    const db = this.url.pathname.replace("/", "");
    if (db) this.silent(["SELECT", db]);
    socket.on("data", (chunk) => this.onData(chunk));
    socket.on("error", (err) => this.fail(err));
    socket.on("close", () => this.fail(new Error("redis connection closed")));
    return socket;
  }

  private silent(args: string[]) {
    const timer = setTimeout(() => {}, 0);
    this.pending.push({ resolve: () => {}, reject: () => {}, timer });
    this.socket?.write(encode(args));
  }

  private onData(chunk: Buffer) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let at = 0;
    for (;;) {
      let reply: ReturnType<typeof parse>;
      try {
        reply = parse(this.buffer, at);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      if (!reply) break;
      at = reply.next;
      const p = this.pending.shift();
      if (!p) continue;
      clearTimeout(p.timer);
      if (reply.value instanceof RespError) p.reject(reply.value);
      else p.resolve(reply.value);
    }
    this.buffer = at === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(at);
  }

  /** Drops the connection and fails every waiting command (replies can no longer be matched to them). */
  private fail(err: Error) {
    const socket = this.socket;
    this.socket = undefined;
    socket?.removeAllListeners("close");
    socket?.destroy();
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}
