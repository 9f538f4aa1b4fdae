import { check } from '@kantine/protocol';
import { EnrolRequest, type EnrolResponse } from '@kantine/protocol/enrolment';
import type { FastifyInstance } from 'fastify';

/**
 * `POST /api/enrol`: a new reader spends its one-time token (protocol/src/enrolment.ts). No
 * session: the token is the credential, and the request and answer are signed with it.
 */
export function registerEnrolApi(
  app: FastifyInstance,
  enrol: (req: EnrolRequest, host: string) => EnrolResponse,
): void {
  app.post('/api/enrol', { bodyLimit: 4 * 1024 }, async (req) => {
    const body = check(EnrolRequest, req.body, 'invalid_request');
    return enrol(body, req.hostname);
  });
}
