import { execFileSync, spawnSync } from 'node:child_process';
import {
  aesCmac,
  authPart2,
  authPart3,
  changeSameKeyData,
  diversifyAes128,
  type Ev2Session,
  sdmMacSessionKey,
  sessionKeys,
  verifySun,
} from '@kantine/card';
import { repoRoot } from '@kantine/gateway';
import test from 'ava';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const HEX = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();
const ZERO_KEY = Buffer.alloc(16);

test('AES-CMAC reproduces the RFC 4493 examples', (t) => {
  const k = hex('2b7e151628aed2a6abf7158809cf4f3c');
  const m = hex(`6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`);
  t.is(HEX(aesCmac(k, Buffer.alloc(0))), 'BB1D6929E95937287FA37D129B756746');
  t.is(HEX(aesCmac(k, m.subarray(0, 16))), '070A16B46B4D4144F79BDD9DD04A287C');
  t.is(HEX(aesCmac(k, m.subarray(0, 40))), 'DFA66747DE9AE63030CA32611497C827');
  t.is(HEX(aesCmac(k, m)), '51F0BEBF7E3B9D92FC49741779363CFE');
});

test('AuthenticateEV2First reproduces the AN12196 example: frames, TI and session keys', (t) => {
  const rndA = hex('13C5DB8A5930439FC3DEF9A4C675360F');
  const { rndB, response } = authPart2(ZERO_KEY, hex('A04C124213C186F22399D33AC2A30215'), rndA);
  t.is(HEX(response), '35C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D');
  const session = authPart3(
    ZERO_KEY,
    rndA,
    rndB,
    hex('3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F08120663'),
  );
  t.is(HEX(session.ti), '9D00C4DF');
  t.is(HEX(session.encKey), '1309C877509E5A215007FF0ED19CA564');
  t.is(HEX(session.macKey), '4C6626F5E72EA694202139295C7A7FC7');
  t.deepEqual(sessionKeys(ZERO_KEY, rndA, rndB), { encKey: session.encKey, macKey: session.macKey });
});

test('authentication fails when the card does not return our RndA (a card without the key)', (t) => {
  const rndA = hex('13C5DB8A5930439FC3DEF9A4C675360F');
  const { rndB } = authPart2(ZERO_KEY, hex('A04C124213C186F22399D33AC2A30215'), rndA);
  const forged = hex('3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F08120664');
  t.throws(() => authPart3(ZERO_KEY, rndA, rndB, forged), { message: /RndA/ });
});

test('ChangeKey reproduces the AN12196 cryptogram and MAC', (t) => {
  const session: Ev2Session = {
    ti: hex('7614281A'),
    encKey: hex('4CF3CB41A22583A61E89B158D252FC53'),
    macKey: hex('5529860B2FC5FB6154B7F28361D30BF9'),
    cmdCtr: 3,
  };
  const data = changeSameKeyData(session, 0, hex('5004BF991F408672B1EF00F08F9E8647'), 0x01);
  t.is(HEX(data.subarray(0, 1)), '00');
  t.is(HEX(data.subarray(1, 33)), 'C0EB4DEEFEDDF0B513A03A95A75491818580503190D4D05053FF75668A01D6FD');
  t.is(HEX(data.subarray(33)), 'A6610234BDED6432');
});

test('SUN verification reproduces the AN12196 example, and refuses a wrong key or a tampered MAC', (t) => {
  const piccData = hex('EF963FF7828658A599F3041510671E88');
  const mac = hex('94EED9EE65337086');
  t.is(HEX(sdmMacSessionKey(ZERO_KEY, hex('04DE5F1EACC040'), hex('3D0000'))), '3FB5F6E3A807A03D5E3570ACE393776F');
  t.deepEqual(verifySun({ metaReadKey: ZERO_KEY, fileReadKey: ZERO_KEY, piccData, mac }), {
    valid: true,
    uid: '04DE5F1EACC040',
    counter: 61,
  });
  const tampered = Buffer.from(mac);
  tampered[7] = (tampered[7] as number) ^ 0x01;
  t.false(verifySun({ metaReadKey: ZERO_KEY, fileReadKey: ZERO_KEY, piccData, mac: tampered }).valid);
  const otherKey = hex('00112233445566778899AABBCCDDEEFF');
  t.false(verifySun({ metaReadKey: ZERO_KEY, fileReadKey: otherKey, piccData, mac }).valid, 'wrong file key');
  t.like(verifySun({ metaReadKey: otherKey, fileReadKey: ZERO_KEY, piccData, mac }), { valid: false, counter: -1 });
});

test('key diversification reproduces the AN10922 AES-128 example', (t) => {
  const master = hex('00112233445566778899AABBCCDDEEFF');
  const m = hex('04782E21801D80' + '3042F5' + '4E585020416275'); // UID ‖ AID ‖ "NXP Abu"
  t.is(HEX(diversifyAes128(master, m)), 'A8DD63A3B89D54B37CA802473FDA9175');
  t.throws(() => diversifyAes128(master, Buffer.alloc(0)));
  t.throws(() => diversifyAes128(master, Buffer.alloc(32)));
});

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import=tsx', 'card/src/cli.ts', ...args], { cwd: repoRoot, encoding: 'utf8' });

test('kantine-card sun-verify prints one JSON verdict, and refuses bad hex with a coded error', (t) => {
  const zero = '00'.repeat(16);
  const args = ['sun-verify', '--meta-key', zero, '--file-key', zero, '--picc', 'EF963FF7828658A599F3041510671E88'];
  const ok = execFileSync(process.execPath, ['--import=tsx', 'card/src/cli.ts', ...args, '--mac', '94EED9EE65337086'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  t.deepEqual(JSON.parse(ok), { valid: true, uid: '04DE5F1EACC040', counter: 61 });
  const bad = cli(...args, '--mac', '94EED9EE65337087');
  t.is(bad.status, 0);
  t.is(JSON.parse(bad.stdout).valid, false);
  const badHex = cli(...args, '--mac', 'XYZ');
  t.is(badHex.status, 2);
  t.is(JSON.parse(badHex.stderr).code, 'invalid_request');
  const missing = cli('sun-verify', '--meta-key', zero);
  t.is(missing.status, 2);
  t.is(JSON.parse(missing.stderr).code, 'invalid_request');
});
