/** Shared, mutable daemon state read by the HTTP layer: readiness and draining on shutdown. */
export class Lifecycle {
  /** False until start-up finished. */
  accepting = false;
  /** From SIGTERM on: /ready answers 503 while requests are still served (the drain delay). */
  stopping = false;
  /** After the drain delay: new requests get 503 shutting_down. */
  draining = false;

  get status(): 'starting' | 'stopping' | 'draining' | 'serving' {
    if (this.draining) return 'draining';
    if (this.stopping) return 'stopping';
    return this.accepting ? 'serving' : 'starting';
  }
}
