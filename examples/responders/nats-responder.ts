/**
 * A standalone responder for busgate request-reply routes on NATS. It needs only the NATS client
 * (@nats-io/transport-node), no busgate code: this is the whole contract.
 *
 *   - Subscribe to the route's subject, in a queue group so that several copies share the load.
 *   - Answer on the request's reply subject (msg.respond): busgate waits there for one reply.
 *   - Headers: `busgate-id` carries busgate's message id and `content-type` the body's media type,
 *     in both directions; other reply headers travel back to busgate with the reply.
 *
 * Run it:  node dist/examples/responders/nats-responder.js <subject> [nats-url]
 * This one echoes the request back as JSON.
 */
import { pathToFileURL } from 'node:url';
import { connect, headers, type Msg } from '@nats-io/transport-node';

export interface NatsResponderOptions {
  /** One URL or a comma-separated list; defaults to NATS_URL or nats://127.0.0.1:4222. */
  readonly servers?: string;
  readonly subject: string;
  /** Queue group: responders in one group split the requests between them. */
  readonly queue?: string;
}

export interface NatsResponder {
  close(): Promise<void>;
}

export async function startNatsResponder(options: NatsResponderOptions): Promise<NatsResponder> {
  const servers = (options.servers ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222').split(',');
  const nc = await connect({ servers, name: 'busgate-example-responder', maxReconnectAttempts: -1 });
  nc.subscribe(options.subject, {
    queue: options.queue ?? 'example-responders',
    callback: (error, msg) => {
      if (error !== null) {
        console.error(`subscription error: ${error.message}`);
        return;
      }
      answer(msg);
    },
  });
  // The subscription is live once the server has seen it.
  await nc.flush();
  return { close: () => nc.drain() };
}

function answer(msg: Msg): void {
  // No reply subject: a plain publish, not a request. Nothing to answer.
  if (msg.reply === undefined) return;
  const id = msg.headers?.get('busgate-id') ?? '';
  const body = {
    echo: new TextDecoder().decode(msg.data),
    subject: msg.subject,
    busgateId: id,
    contentType: msg.headers?.get('content-type') ?? null,
  };
  const replyHeaders = headers();
  replyHeaders.set('content-type', 'application/json');
  if (id !== '') replyHeaders.set('busgate-id', id);
  replyHeaders.set('x-responder', 'nats-example');
  msg.respond(JSON.stringify(body), { headers: replyHeaders });
}

const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (runDirectly) {
  const [subject, servers] = process.argv.slice(2);
  if (subject === undefined) {
    console.error('usage: nats-responder <subject> [nats-url]');
    process.exit(2);
  }
  const responder = await startNatsResponder({ subject, ...(servers !== undefined ? { servers } : {}) });
  console.log(`answering requests on "${subject}"; Ctrl-C to stop`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void responder.close().then(() => process.exit(0));
    });
  }
}
