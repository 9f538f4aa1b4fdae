/** What the demo shows in the terminal: what it runs, the till's answers, and the keys that drive it. */
import type { Ledger } from '@kantine/gateway';
import { codes, type Decision } from '@kantine/protocol';
import { demoCards, demoProducts, demoStaff, demoTill } from './demo-site.ts';

export const kr = (ore: number) => (ore / 100).toFixed(2).replace('.', ',');
export const out = (line = '') => process.stdout.write(`${line}\n`);

/** The till's answer to a tap, as the canteen staff would read it. */
export function showDecision(d: Decision, replay?: boolean): void {
  if (replay) return;
  const legacy = d.card_kind === 'legacy' ? ' [gammelt UID-kort, bør skiftes / legacy card, replace it]' : '';
  const who = `${d.first_name ? ` ${d.first_name}` : ''}${legacy}`;
  if (d.outcome === 'approved') {
    const items = (d.lines ?? []).map((l) => `${l.quantity}x ${l.name} ${kr(l.unit_price_ore)}`).join('  ');
    out(`  [kasse] SALG / SALE${who}: ${items}  -${kr(d.amount_ore ?? 0)}  saldo ${kr(d.balance_ore ?? 0)}`);
  } else if (d.outcome === 'declined') {
    const info = d.code ? codes[d.code] : undefined;
    out(`  [kasse] AFVIST / DECLINED${who}: ${info?.da ?? d.code} / ${info?.en ?? ''}`);
    if (info?.action_da) out(`          ${info.action_da}`);
  } else {
    out(`  [kasse] SALDO / BALANCE${who}: ${kr(d.balance_ore ?? 0)} kr (tom kurv / empty basket)`);
  }
}

export function showReader(s: { reader_id: string; state: string; reason?: string }): void {
  out(`  [kasse] læser ${s.reader_id}: ${s.state}${s.reason ? ` (${s.reason})` : ''}`);
}

function showBasket(ledger: Ledger): void {
  const b = ledger.baskets.getBasket(demoTill.id);
  out(
    b
      ? `  Kurv / basket: ${b.lines.map((l) => `${l.quantity}x ${l.name}`).join(', ')} = ${kr(b.total_ore)} kr — bip et kort / tap a card`
      : '  Kurven er tom / basket empty — et bip viser saldoen / a tap shows the balance',
  );
}

export interface Running {
  site: string;
  till: string;
  brokerUrl: string;
  dataDir: string;
  tlsDir: string;
  readerId: string;
  /** The gateway's HTTP address. */
  api: string;
  centralApi: string;
  centralMqttPort: number;
  /** The API tokens the demo made for this run, one per scope. */
  centralTokens: { admin: string; it: string; finance: string };
  /** Where guardians and staff sign in (central's address), and the dev identity provider's. */
  portal: string;
  idp: string;
  /** The page of the mails central sent (caught, delivered nowhere). */
  mail: string;
  /** The fake payment provider (guardians top up through its card page). */
  psp: string;
  /** The demo people the provider lists, with who they are. */
  people: { name: string; about: string }[];
  viaPcsc: boolean;
  vpcdReader: string;
  ledger: Ledger;
}

/** What runs where, the staff PINs, the products and cards, and what to try. */
export function showIntro(r: Running): void {
  const { api, centralApi } = r;
  out(`\nkantine demo — ${r.site}, ${r.till}`);
  out(
    `  MQTT broker:  ${r.brokerUrl}  (TLS, site CA in ${r.tlsDir}; reader "${r.readerId}" enrolled with a one-time token)`,
  );
  out(`  Overvågning / monitoring: ${api}/metrics  ${api}/readyz  (on this machine only)`);
  out(
    r.viaPcsc
      ? `  Kortlæser:    PC/SC via pcscd → "${r.vpcdReader}" (vpcd); kortene er tvillinger / the cards are twins`
      : '  Kortlæser:    simuleret / simulated (no pcscd with the vpcd driver here); the cards are twins',
  );
  out(`  Kiosk:        ${api}/kiosk/   (åbn i en browser / open in a browser)`);
  out(`  HTTPS:        the site CA is ${r.tlsDir}/site-ca.pem: import it in the browser as a trusted CA`);
  out(`                (or accept the warning for the demo); curl --cacert ${r.tlsDir}/site-ca.pem …`);
  out(`  Central:      ${centralApi}/api/…  (broker mqtts://127.0.0.1:${r.centralMqttPort}; the site is linked)`);
  const tk = r.centralTokens;
  out(`  API-nøgler / API tokens (this run only): admin ${tk.admin}`);
  out(`                                        it ${tk.it}`);
  out(`                                        finance ${tk.finance}`);
  out(`  Portal:       ${r.portal}/  (log ind med MitID / sign in — guardians, relations, office, municipality)`);
  out(`  Login:        ${r.idp}  (udviklingsudbyder i MitIDs sted / a development provider in MitID's place)`);
  out(`  Mail:         ${r.mail}  (de mails centralen sender / the mails central sends — caught, not delivered)`);
  out(`  Betaling:     ${r.psp}  (falsk betalingsudbyder / fake payment provider — no real money)`);
  out(
    '                Indbetal i portalen / top up in the portal; testkort / test card 4571 0000 0000 0001, 12/39, 123',
  );
  out('  Demo-personer / demo people (vælg en ved login / pick one at sign-in):');
  for (const p of r.people) out(`    ${p.name.padEnd(14)} ${p.about}`);
  out(`  Personale / staff PIN: ${demoStaff.map((s) => `${s.name} ${s.pin}`).join(', ')}`);
  out(`  Data:         ${r.dataDir} (made anew at each start)`);
  out('\n  Varer / products:');
  for (const p of demoProducts) out(`    [${p.key}] ${p.name.padEnd(16)} ${kr(p.price_ore).padStart(6)} kr`);
  out('  Kort / cards:');
  for (const c of demoCards) {
    const account = c.account_id ? r.ledger.accounts.getAccount(c.account_id) : undefined;
    const kind = c.kind === 'ntag424' ? 'kantine-kort (SUN)' : 'UID-kort';
    out(`    [${c.key}] ${c.label} — ${kind}${account ? `, saldo ${kr(account.balance_ore)} kr` : ''}`);
  }

  out('  Prøv / try: Emma må bruge 40 kr om dagen og har en forudbestilling (tom kurv + [e]); Noah har kun');
  out('             4,50 kr ([2] + [n]); Freja tåler ikke nødder ([7] + [f]), må ikke købe slik ([8] + [f])');
  out('             og har automatisk optankning under 50 kr.');
  out('  Central:    spær Emmas kort / block Emma’s card, then tap [e]; indbetal / deposit:');
  out(`    curl -XPOST ${centralApi}/api/cards/${demoCards[0]?.uid}/block -H 'authorization: Bearer ${tk.it}'`);
  out(`    curl -XPOST ${centralApi}/api/accounts/konto-noah/deposits -H 'authorization: Bearer ${tk.finance}' \\`);
  out(`         -H 'content-type: application/json' -d '{"amount_ore":5000}'`);
}

/** Keys fill the till's basket and tap the demo's cards; `q` or Ctrl-C quits. */
export function driveFromKeyboard(ledger: Ledger, tap: (key: string) => boolean, quit: () => void): void {
  out(
    '\n  Taster / keys: 1–8 læg vare i kurven / add to basket · c tøm kurven / clear · kort-tast bipper / card key taps · q afslut / quit\n',
  );
  process.stdin.setRawMode(true);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (key: string) => {
    if (key === 'q' || key === '\u0003') return quit();
    if (key === 'c') {
      ledger.baskets.clearBasket(demoTill.id);
      return showBasket(ledger);
    }
    const product = demoProducts.find((p) => p.key === key);
    if (product) {
      // The basket lives in the ledger (a sale consumes it); add to what is there now.
      const lines = (ledger.baskets.getBasket(demoTill.id)?.lines ?? []).map((l) => ({
        product_id: l.product_id,
        quantity: l.quantity,
      }));
      const line = lines.find((l) => l.product_id === product.id);
      if (line) line.quantity += 1;
      else lines.push({ product_id: product.id, quantity: 1 });
      ledger.baskets.setBasket(demoTill.id, lines);
      return showBasket(ledger);
    }
    tap(key);
  });
}

/** Without a terminal: how to sell and tap over HTTP. */
export function showHttpDriving(api: string, tlsDir: string): void {
  const curl = `curl --cacert ${tlsDir}/site-ca.pem`;
  out('\n  No terminal: sell from the kiosk in a browser, and tap cards over HTTPS, e.g.');
  out(`    ${curl} -XPOST ${api}/api/demo/tap/e      # Emma taps her card`);
  out('  or drive the till API with curl (log in first; the session is a cookie):');
  out(`    ${curl} -c /tmp/kantine.jar -XPOST ${api}/api/kiosk/login -H 'content-type: application/json' \\`);
  out(`         -d '{"till_id":"${demoTill.id}","staff_id":"${demoStaff[0].id}","pin":"${demoStaff[0].pin}"}'`);
  out(
    `    ${curl} -b /tmp/kantine.jar -XPUT ${api}/api/tills/${demoTill.id}/basket -H 'content-type: application/json' \\`,
  );
  out(`         -d '{"lines":[{"product_id":"ostehoeps","quantity":1},{"product_id":"yoghurt","quantity":1}]}'`);
  out('  Ctrl-C stops the demo.\n');
}
