import { check } from '@kantine/protocol';
import { EnrolRequest } from '@kantine/protocol/enrolment';
import type { FastifyInstance } from 'fastify';
import type { Gateway } from './gateway.ts';

/**
 * `POST /api/enrol`: a new reader spends its one-time token (protocol/src/enrolment.ts). No
 * session: the token is the credential, and the request and answer are signed with it.
 */
export function registerEnrolApi(app: FastifyInstance, gateway: Gateway): void {
  app.post('/api/enrol', { bodyLimit: 4 * 1024 }, async (req) => {
    const body = check(EnrolRequest, req.body, 'invalid_request');
    return gateway.enrol(body, req.hostname);
  });
}
