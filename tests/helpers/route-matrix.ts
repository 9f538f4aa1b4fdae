import type { Access, DeclaredRoute, PersonRole, Scope } from '@kantine/central';

/** Who knocks: a service token of a scope, or a signed-in person with what they hold. */
export type Knocker =
  | { kind: 'token'; name: string; scope: Scope; token: string }
  | {
      kind: 'person';
      name: string;
      cookie: string;
      csrf: string;
      /** Their staff roles, the sites whose office they work at, their role on the matrix's account. */
      staff: ('admin' | 'finance')[];
      office_sites: string[];
      account_role: 'guardian' | 'relation' | null;
    }
  | { kind: 'nobody'; name: string };

/** The objects the matrix asks about: every `:param` of a route gets one of these. */
export interface MatrixObjects {
  account: string;
  site: string;
  /** Any other parameter: a value that names nothing (the handler's own 404 is a let-in). */
  other: string;
}

/** What the declarations say: may this knocker use this route (on the matrix's account and site)? */
export function mayUse(access: Access, k: Knocker): boolean {
  if (access === 'public') return true;
  if (k.kind === 'nobody') return false;
  if (k.kind === 'token') return access.tokens.includes(k.scope);
  return access.people.some((role: PersonRole) => {
    switch (role) {
      case 'person':
        return true;
      case 'admin':
      case 'finance':
        return k.staff.includes(role);
      case 'office':
        return k.office_sites.length > 0; // the matrix's site (and its account's) is where they work
      case 'guardian':
      case 'relation':
        return k.account_role === role;
    }
    return false;
  });
}

/** The route's URL with its parameters filled from the matrix's objects. */
export function fill(url: string, o: MatrixObjects): string {
  return url.replace(/:([A-Za-z_]+)/g, (_m, name: string) => {
    if (name === 'account') return o.account;
    if (name === 'site') return o.site;
    return o.other;
  });
}

/**
 * One cell: the request as this knocker, and whether the API let them in. Central marks every
 * answer its authorization hook refused (a credential, a scope, a role, a CSRF token) with
 * `x-kantine-refused`, whatever the page or JSON it is; anything else (the handler's 400 for an
 * empty body, its own 404 for an object that does not exist, a 2xx) is "let in". The status of a
 * refusal is checked too: 401/403, 404 for an account a person has nothing to do with, or a
 * page's redirect to sign in.
 */
export async function knock(
  base: string,
  route: DeclaredRoute,
  k: Knocker,
  o: MatrixObjects,
): Promise<{ let_in: boolean; status: number; code?: string; odd?: string }> {
  const headers: Record<string, string> = {};
  if (k.kind === 'token') headers.authorization = `Bearer ${k.token}`;
  if (k.kind === 'person') {
    headers.cookie = k.cookie;
    headers['x-csrf-token'] = k.csrf;
  }
  const hasBody = !['GET', 'HEAD', 'OPTIONS', 'DELETE'].includes(route.method);
  if (hasBody) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${fill(route.url, o)}`, {
    method: route.method,
    headers,
    redirect: 'manual',
    ...(hasBody ? { body: '{}' } : {}),
  });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { code?: string }).code;
  } catch {
    code = /data-code="([a-z_]+)"/.exec(text)?.[1];
  }
  const refused = res.headers.get('x-kantine-refused') === 'access';
  const fitting =
    res.status === 401 ||
    res.status === 403 ||
    (res.status === 404 && code === 'not_found') ||
    (res.status === 303 && new URL(res.headers.get('location') ?? '', base).pathname === '/');
  return {
    let_in: !refused,
    status: res.status,
    ...(code === undefined ? {} : { code }),
    ...(refused && !fitting ? { odd: `a refusal answered ${res.status}` } : {}),
  };
}
