/**
 * Answers for what node's HTTP server handles before any route sees a request: parser errors,
 * `Expect` headers and CONNECT. Each still gets a JSON error with a documented code, never a
 * bare status line or a silently closed socket.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'winston';
import { BusgateError } from '../errors.js';
import { sendError } from './send-error.js';

/** Writes a whole JSON error response on a raw socket (no ServerResponse exists) and closes it. */
function endWithError(socket: Duplex, failure: BusgateError, extra = ''): void {
  const body = JSON.stringify(failure.toJSON());
  socket.end(
    `HTTP/1.1 ${failure.status} ${http.STATUS_CODES[failure.status]}\r\n${extra}Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Errors node's HTTP parser finds (oversized headers, slow clients, malformed requests). */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const failure =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new BusgateError('headers_too_large', 'the request headers are too large')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new BusgateError('request_timeout', 'the request was not received in time')
        : new BusgateError('bad_request', 'the request is not valid HTTP');
  endWithError(socket, failure);
}

export function answerProtocolEdges(server: http.Server, options: { readonly bodyLimitBytes: number; readonly logger: Logger }): void {
  server.on('clientError', answerClientError);

  // `Expect: 100-continue`: invite the body only when it may be accepted. A declared length over
  // the limit is refused at once, so the client never sends (and we never read) the body.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > options.bodyLimitBytes) {
      const failure = new BusgateError('payload_too_large', `the body is larger than the limit of ${options.bodyLimitBytes} bytes`);
      sendError(res, failure, options.logger, { Connection: 'close' });
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });

  // Any other expectation (`Expect: 200-ok`...) cannot be met: 417, as JSON like every error.
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const expectation = String(req.headers.expect).slice(0, 64);
    sendError(res, new BusgateError('expectation_failed', `Expect: ${expectation} is not supported (only 100-continue)`), options.logger, {
      Connection: 'close',
    });
  });

  // CONNECT asks for a tunnel; busgate is no proxy. Without this listener node closes the socket.
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    endWithError(
      socket,
      new BusgateError('method_not_allowed', 'CONNECT is not supported: busgate is not a proxy'),
      'Allow: GET, POST, PUT, PATCH, DELETE\r\n',
    );
  });
}
