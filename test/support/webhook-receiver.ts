/** The webhook receiver ships with the public conformance suite (its egress part); tests share it. */
export { WebhookReceiver, type HookAnswer, type HookScript, type ReceivedHook } from '../../conformance/webhook-receiver.js';
