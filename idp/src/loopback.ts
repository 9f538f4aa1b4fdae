import { isIP } from 'node:net';

/**
 * Whether `host` is this machine only: 127.0.0.0/8, ::1 or `localhost`. The development provider
 * speaks plain HTTP and signs in anyone as anyone, so it never listens beyond loopback.
 */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** The host as it stands in a URL (IPv6 in brackets). */
export function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
