import { execFileSync, spawnSync } from 'node:child_process';
import {
  aesCmac,
  authPart2,
  authPart3,
  changeKeyPlain,
  changeSameKeyData,
  crc32nk,
  decodeFileSettings,
  diversifyAes128,
  type Ev2Session,
  encodeFileSettings,
  type FileSettings,
  sdmMacSessionKey,
  sessionKeys,
  unwrapCommand,
  unwrapResponse,
  verifySun,
  wrapCommand,
  wrapResponse,
} from '@kantine/card';
import test from 'ava';
import { repoRoot } from './helpers/process.ts';

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
  // Another key's ChangeKey carries CRC32(NewKey) in the chip's variant: CRC-32/JAMCRC, whose
  // catalogue check value for "123456789" is 0x340BC6D9, sent least significant byte first.
  t.is(HEX(crc32nk(Buffer.from('123456789'))), 'D9C60B34');
  const other = changeKeyPlain({
    sameAsAuthKey: false,
    newKey: hex('5004BF991F408672B1EF00F08F9E8647'),
    keyVersion: 0x01,
    oldKey: hex('00112233445566778899AABBCCDDEEFF'),
  });
  t.is(HEX(other.subarray(0, 16)), '50159DAA5B15E0053976AA4B434368B8', 'NewKey ⊕ OldKey');
  t.is(HEX(other.subarray(16, 17)), '01');
  t.is(HEX(other.subarray(17)), HEX(crc32nk(hex('5004BF991F408672B1EF00F08F9E8647'))));
});

test("AuthenticateEV2First reproduces AN12196's second example (key 3): another RndA, TI and session keys", (t) => {
  const rndA = hex('B98F4C50CF1C2E084FD150E33992B048');
  const { rndB, response } = authPart2(ZERO_KEY, hex('B875CEB0E66A6C5CD00898DC371F92D1'), rndA);
  t.is(HEX(response), 'FF0306E47DFBC50087C4D8A78E88E62DE1E8BE457AA477C707E2F0874916A8B1');
  const session = authPart3(
    ZERO_KEY,
    rndA,
    rndB,
    hex('0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A'),
  );
  t.is(HEX(session.ti), '7614281A');
  t.is(HEX(session.encKey), '7A93D6571E4B180FCA6AC90C9A7488D4');
  t.is(HEX(session.macKey), 'FC4AF159B62E549B5812394CAB1918CC');
});

// AN12196's secure-messaging examples: command MACs and cryptograms, and the card's answers,
// MAC'd and encrypted.
test("MAC mode reproduces AN12196: GetFileSettings' command MAC, and its answer's MAC (CmdCtr+1) checks", (t) => {
  const session: Ev2Session = {
    ti: hex('7A21085E'),
    encKey: Buffer.alloc(16),
    macKey: hex('8248134A386E86EB7FAF54A52E536CB6'),
    cmdCtr: 0,
  };
  t.is(HEX(wrapCommand(session, 'mac', 0xf5, hex('02'), Buffer.alloc(0))), '026597A457C8CD442C');
  const settings = '0040EEEE000100D1FE001F00004400004400002000006A0000';
  const answer = hex(`${settings}2A474282E7A47986`);
  t.is(HEX(unwrapResponse(session, 'mac', 0x00, answer) ?? Buffer.alloc(0)), settings);
  const tampered = Buffer.from(answer);
  tampered[3] = (tampered[3] as number) ^ 0x01;
  t.is(unwrapResponse(session, 'mac', 0x00, tampered), undefined, 'a changed answer fails its MAC');
  t.is(unwrapResponse({ ...session, cmdCtr: 1 }, 'mac', 0x00, answer), undefined, 'the counter is in the MAC');
});

test("FULL mode reproduces AN12196's two examples: WriteData's cryptogram and MAC, and the answer's MAC", (t) => {
  // an NDEF message with a URL, its SUN placeholders still zeros
  const ndef = hex(
    `0051D1014D550463686F6F73652E75726C2E636F6D2F6E7461673432343F653D30303030303030303030303030303030
     3030303030303030303030303030303026633D3030303030303030303030303030303000000000000000000000000000
     0000000000000000000000000000000000000000000000000000000000000000`,
  );
  t.is(ndef.length, 128);
  const long: Ev2Session = {
    ti: hex('9D00C4DF'),
    encKey: hex('1309C877509E5A215007FF0ED19CA564'),
    macKey: hex('4C6626F5E72EA694202139295C7A7FC7'),
    cmdCtr: 0,
  };
  t.is(
    HEX(wrapCommand(long, 'full', 0x8d, hex('02000000800000'), ndef)),
    `02000000800000421C73A27D827658AF481FDFF20A5025B559D0E3AA21E58D347F343CFFC768BFE596C706BC00F2176781D4B0242642A0FF5A42C461AAF894D9A1284B8C76BCFA658ACD40555D362E08DB15CF421B51283F9064BCBE20E96CAE545B407C9D651A3315B27373772E5DA2367D2064AE054AF996C6F1F669170FA88CE8C4E3A4A7BBBEF0FD971FF532C3A802AF745660F2B4D1D9A8499661EBF3`,
  );
  t.deepEqual(unwrapResponse(long, 'full', 0x00, hex('FC222E5F7A542452')), Buffer.alloc(0));

  const short: Ev2Session = {
    ti: hex('7614281A'),
    encKey: hex('7A93D6571E4B180FCA6AC90C9A7488D4'),
    macKey: hex('FC4AF159B62E549B5812394CAB1918CC'),
    cmdCtr: 0,
  };
  const field = wrapCommand(short, 'full', 0x8d, hex('030000000A0000'), hex('0102030405060708090A'));
  t.is(HEX(field), '030000000A00006B5E6804909962FC4E3FF5522CF0F8436C0C53315B9C73AA');
  // …and the card's side opens it again
  t.like(unwrapCommand(short, 'full', 0x8d, 7, field), { data: hex('0102030405060708090A') });
  t.deepEqual(unwrapResponse(short, 'full', 0x00, hex('C26D236E4A7C046D')), Buffer.alloc(0));
});

test("a FULL-mode answer reproduces AN12196: GetCardUID's answer checks and decrypts (IV 5A A5 ‖ TI ‖ CmdCtr+1)", (t) => {
  const session: Ev2Session = {
    ti: hex('DF055522'),
    encKey: hex('2B4D963C014DC36F24F69A50A394F875'),
    macKey: hex('379D32130CE61705DD5FD8C36B95D764'),
    cmdCtr: 0,
  };
  t.is(HEX(wrapCommand(session, 'full', 0x51, Buffer.alloc(0), Buffer.alloc(0))), '8E2C155ADDA99BE3');
  const answer = hex('70756055688505B52A5E26E59E329CD6595F672298EA41B7');
  t.is(HEX(unwrapResponse(session, 'full', 0x00, answer) ?? Buffer.alloc(0)), '04958CAA5C5E80');
  // the twin's side makes the same answer from the UID
  t.is(HEX(wrapResponse(session, 'full', 0x00, hex('04958CAA5C5E80'))), HEX(answer));
});

test("ChangeFileSettings reproduces AN12196's example: the SDM settings' layout, their cryptogram and MAC", (t) => {
  const settings: FileSettings = {
    commMode: 'plain',
    access: { read: 0xe, write: 0, readWrite: 0, change: 0 },
    sdm: {
      uidMirror: true,
      readCtrMirror: true,
      ascii: true,
      ctrRet: 1,
      metaRead: 2,
      fileRead: 1,
      piccDataOffset: 0x20,
      macInputOffset: 0x43,
      macOffset: 0x43,
    },
  };
  const data = encodeFileSettings(settings);
  t.is(HEX(data), '4000E0C1F121200000430000430000');
  t.deepEqual(decodeFileSettings(data, false), settings);
  const session: Ev2Session = {
    ti: hex('9D00C4DF'),
    encKey: hex('1309C877509E5A215007FF0ED19CA564'),
    macKey: hex('4C6626F5E72EA694202139295C7A7FC7'),
    cmdCtr: 1,
  };
  t.is(HEX(wrapCommand(session, 'full', 0x5f, hex('02'), data)), '0261B6D97903566E84C3AE5274467E89EAD799B7C1A0EF7A04');
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
