/**
 * @kantine/idp: the development identity provider (OpenID Connect) for the demo and the tests.
 * It signs in anyone as any demo person at the press of a button: loopback only, never production.
 */
export { isLoopbackHost } from './loopback.ts';
export { DEMO_CHILDREN, DEMO_PEOPLE, type DemoChild, type DemoPerson } from './people.ts';
export { type DevIdp, type DevIdpClient, type DevIdpOptions, startDevIdp } from './provider.ts';
