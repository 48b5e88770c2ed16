/**
 * A standalone RabbitMQ responder for busgate request-reply routes, using amqplib only.
 *
 *   AMQP_URL=amqp://guest:guest@127.0.0.1:5672 node dist/examples/responders/rabbitmq-responder.js greetings
 *
 * The contract: consume the queue named by the route's destination; for each request, publish the
 * reply to `properties.replyTo` (through the default exchange) with the request's
 * `properties.correlationId`, then ack the request. busgate sets replyTo to RabbitMQ's direct
 * reply-to address, so the reply must be sent while the request is being handled.
 */
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { pathToFileURL } from 'node:url';

export interface ResponderReply {
  readonly body: Buffer;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
}

export type RequestHandler = (request: ConsumeMessage) => Promise<ResponderReply> | ResponderReply;

export interface RunningResponder {
  close(): Promise<void>;
}

/** Echoes the request body back with its content type, and adds an `x-responder` header. */
export const echo: RequestHandler = (request) => ({
  body: request.content,
  contentType: typeof request.properties.contentType === 'string' ? request.properties.contentType : undefined,
  headers: { ...stringHeaders(request.properties.headers), 'x-responder': 'rabbitmq-example' },
});

export async function startResponder(url: string, queue: string, handle: RequestHandler = echo): Promise<RunningResponder> {
  const connection: ChannelModel = await connect(url);
  connection.on('error', (error: Error) => console.error(`responder connection error: ${error.message}`));
  const channel: Channel = await connection.createChannel();
  channel.on('error', (error: Error) => console.error(`responder channel error: ${error.message}`));

  // busgate declares request queues durable; declaring it the same way here is harmless.
  await channel.assertQueue(queue, { durable: true });
  await channel.prefetch(16);
  await channel.consume(queue, (request) => {
    if (request === null) return; // the broker cancelled the consumer (queue deleted)
    void answer(channel, request, handle);
  });

  return {
    async close() {
      await connection.close().catch(() => undefined);
    },
  };
}

async function answer(channel: Channel, request: ConsumeMessage, handle: RequestHandler): Promise<void> {
  try {
    const reply = await handle(request);
    const replyTo: unknown = request.properties.replyTo;
    if (typeof replyTo === 'string' && replyTo !== '') {
      channel.sendToQueue(replyTo, reply.body, {
        correlationId: request.properties.correlationId as string | undefined,
        contentType: reply.contentType,
        headers: reply.headers,
      });
    }
    channel.ack(request);
  } catch (error) {
    console.error(`responder failed: ${error instanceof Error ? error.message : String(error)}`);
    // Requeue once so another responder may try; a second failure drops the request.
    channel.nack(request, false, !request.fields.redelivered);
  }
}

function stringHeaders(headers: Record<string, unknown> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (typeof value === 'string') result[name] = value;
    else if (Buffer.isBuffer(value)) result[name] = value.toString('utf8');
    else if (typeof value === 'number' || typeof value === 'boolean') result[name] = String(value);
  }
  return result;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const queue = process.argv[2] ?? 'busgate-requests';
  const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  startResponder(url, queue).then(
    (responder) => {
      console.log(`answering requests on queue "${queue}" (Ctrl-C to stop)`);
      const stop = (): void => {
        void responder.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (error: unknown) => {
      console.error(`cannot start the responder: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
