import type { DemoPerson } from './people.ts';

/**
 * The provider's own pages: sign-in (the demo people as buttons), sign-out confirmation, signed
 * out, and errors. Plain HTML forms that work without JavaScript, no web fonts or other outside
 * resources (the machine may have no internet), Danish with English beside it, and colours that
 * pass WCAG AA contrast (dark text on white, white on a dark blue button).
 */

/** Escapes text for HTML content and attribute values. */
export function html(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const style = `
  :root { color-scheme: light; }
  * { box-sizing: border-box; }
  body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 1rem;
    line-height: 1.45; color: #1a1a1a; background: #f4f4f4; }
  main { max-width: 34rem; margin: 0 auto; padding: 1rem; }
  .warning { border: 3px solid #8a1c00; background: #fff4e5; color: #5c1300; padding: 0.75rem 1rem; border-radius: 6px; }
  .warning strong { display: block; font-size: 1.1rem; }
  h1 { font-size: 1.5rem; margin: 1rem 0 0.25rem; }
  h1 .en, p .en, .about .en { font-weight: normal; color: #4a4a4a; }
  .en { display: block; }
  ul { list-style: none; margin: 1rem 0; padding: 0; }
  li { margin: 0 0 0.75rem; }
  button { width: 100%; min-height: 3rem; text-align: left; font: inherit; cursor: pointer; border-radius: 6px;
    border: 2px solid #0b3d91; background: #0b3d91; color: #fff; padding: 0.6rem 1rem; }
  button:hover { background: #072a66; }
  button:focus-visible { outline: 3px solid #f2a900; outline-offset: 2px; }
  button .name { display: block; font-weight: 700; font-size: 1.1rem; }
  button .about { display: block; }
  button .about .en { color: #dfe7f5; }
  button.secondary { background: #fff; color: #0b3d91; }
  button.secondary:hover { background: #e8eef8; }
  button.secondary .about .en { color: #3a3a3a; }
  .box { background: #fff; border-radius: 6px; padding: 1rem; margin-top: 1rem; }
  code { word-break: break-all; }
`;

function page(titleDa: string, titleEn: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="da">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${html(titleDa)} / ${html(titleEn)} – kantine (udvikling / development)</title>
<style>${style}</style>
</head>
<body>
<main>
<div class="warning" role="note">
  <strong>Udviklingsudbyder – ikke MitID</strong>
  <span lang="en">Development identity provider – not MitID. Anyone can sign in as anyone here: never use it in production.</span>
</div>
${body}
</main>
</body>
</html>`;
}

/** The sign-in page: one form per demo person, each a single button (a plain POST). */
export function signInPage(action: string, people: readonly DemoPerson[], clientId: string): string {
  const buttons = people
    .map(
      (p) => `<li><form method="post" action="${html(action)}">
  <input type="hidden" name="person" value="${html(p.key)}">
  <button type="submit" id="person-${html(p.key)}">
    <span class="name">${html(p.name)}</span>
    <span class="about">${html(p.about_da)}<span class="en" lang="en">${html(p.about_en)}</span></span>
  </button>
</form></li>`,
    )
    .join('\n');
  return page(
    'Log ind',
    'Sign in',
    `<h1 id="title">Log ind som en demoperson <span class="en" lang="en">Sign in as a demo person</span></h1>
<p>Vælg hvem du vil være. <span class="en" lang="en">Choose who you want to be.</span>
<small>Til / for: <code>${html(clientId)}</code></small></p>
<ul aria-labelledby="title">
${buttons}
</ul>`,
  );
}

/**
 * The sign-out confirmation: oidc-provider hands over its form (hidden xsrf field, id
 * `op.logoutForm`); the buttons submit it.
 */
export function signOutPage(form: string): string {
  return page(
    'Log ud',
    'Sign out',
    `<h1>Log ud? <span class="en" lang="en">Sign out?</span></h1>
<p>Du logges ud af udviklingsudbyderen. <span class="en" lang="en">You will be signed out of the development provider.</span></p>
${form}
<ul>
<li><button type="submit" form="op.logoutForm" name="logout" value="yes" id="logout-yes">
  <span class="name">Ja, log ud</span><span class="about"><span class="en" lang="en">Yes, sign me out</span></span>
</button></li>
<li><button type="submit" form="op.logoutForm" class="secondary" id="logout-no">
  <span class="name">Nej, forbliv logget ind</span><span class="about"><span class="en" lang="en">No, stay signed in</span></span>
</button></li>
</ul>`,
  );
}

/** Shown after sign-out when the client gave no post_logout_redirect_uri. */
export function signedOutPage(): string {
  return page(
    'Logget ud',
    'Signed out',
    `<h1>Du er logget ud <span class="en" lang="en">You are signed out</span></h1>
<p>Du kan lukke vinduet. <span class="en" lang="en">You can close this window.</span></p>`,
  );
}

/** Errors: the OAuth error code and its description (never a person's data). */
export function errorPage(error: string, description: string | undefined): string {
  return page(
    'Fejl',
    'Error',
    `<h1>Noget gik galt <span class="en" lang="en">Something went wrong</span></h1>
<div class="box"><p><strong>${html(error)}</strong></p>${description ? `<p lang="en">${html(description)}</p>` : ''}</div>
<p>Gå tilbage til tjenesten og prøv at logge ind igen. <span class="en" lang="en">Go back to the service and try signing in again.</span></p>`,
  );
}
