/** A minimal Server-Sent Events reader for tests: collects events as they arrive. */
export interface SseEvent {
  readonly id?: string;
  readonly event?: string;
  readonly data: string;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  comments = 0;
  ended = false;
  private readonly abort = new AbortController();
  private buffer = '';

  private constructor(readonly response: Response) {}

  /** Connects; resolves with the response (its status) and keeps reading a 200 in the background. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const abort = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    const client = new SseClient(response);
    (client as unknown as { abort: AbortController }).abort = abort;
    if (response.status === 200 && response.body) void client.read(response.body);
    return client;
  }

  close(): void {
    this.abort.abort();
  }

  messages(): Record<string, unknown>[] {
    return this.events.filter((event) => event.event === 'message').map((event) => JSON.parse(event.data) as Record<string, unknown>);
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) {
        this.buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = this.buffer.indexOf('\n\n')) >= 0) {
          this.parse(this.buffer.slice(0, end));
          this.buffer = this.buffer.slice(end + 2);
        }
      }
    } catch {
      // aborted by close()
    }
    this.ended = true;
  }

  private parse(block: string): void {
    const fields: { id?: string; event?: string; data: string[] } = { data: [] };
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments += 1;
        continue;
      }
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (name === 'id') fields.id = value;
      else if (name === 'event') fields.event = value;
      else if (name === 'data') fields.data.push(value);
    }
    if (fields.data.length > 0)
      this.events.push({
        ...(fields.id !== undefined ? { id: fields.id } : {}),
        ...(fields.event !== undefined ? { event: fields.event } : {}),
        data: fields.data.join('\n'),
      });
  }
}
