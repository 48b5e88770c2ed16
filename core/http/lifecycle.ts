/** Shared, mutable daemon state read by the HTTP layer: readiness and draining on shutdown. */
export class Lifecycle {
  /** False until start-up finished, and again from the moment shutdown begins. */
  accepting = false;
  draining = false;
}
