/** Line-level edits (src/config/edit/text.ts): only the lines that change, every other byte kept. */
import { describe, expect, it } from 'vitest';
import { parseIni } from '../../src/config/ini-lines.js';
import { addSection, applyEdits, diffLines, encodeValue, maskText, removeSection, restoreSecrets, secretPredicate, setKey, unsetKey } from '../../src/config/edit/text.js';

const FILE = '; top comment\n[server]\n  host=a.example   ; inline note\ndescription = x\n\n; about power\n[power]\ndevice = pdu-a\noutlet = 1\n';
const value = (text: string, section: string, key: string): string | undefined => parseIni(text).sections.find((s) => s.name === section)?.keys.get(key)?.value;
const none = secretPredicate(new Set());

describe('config text edits', () => {
  it('rewrites a key in place, keeping indentation, spacing and the inline comment', () => {
    expect(setKey(FILE, 'server', 'host', 'b.example')).toBe(FILE.replace('  host=a.example   ; inline note', '  host=b.example   ; inline note'));
    expect(setKey(FILE, 'server', 'description', '')).toBe(FILE.replace('description = x', 'description ='));
  });

  it('adds an absent key after the section’s last key, and an absent section at the end', () => {
    expect(setKey(FILE, 'server', 'max_attempts', '4')).toBe(FILE.replace('description = x\n', 'description = x\nmax_attempts = 4\n'));
    expect(setKey(FILE, 'ping', 'type', 'sim')).toBe(`${FILE}\n[ping]\ntype = sim\n`);
    expect(setKey('[a]\nk = 1', 'a', 'j', '2')).toBe('[a]\nk = 1\nj = 2');
  });

  it('keeps CRLF line ends', () => {
    const crlf = FILE.replace(/\n/g, '\r\n');
    expect(setKey(crlf, 'power', 'timeout', '3s')).toBe(crlf.replace('outlet = 1\r\n', 'outlet = 1\r\ntimeout = 3s\r\n'));
    expect(unsetKey(crlf, 'server', 'description')).toBe(crlf.replace('description = x\r\n', ''));
  });

  it('quotes a value the INI grammar would misread, and refuses a line break', () => {
    for (const v of ['a;b', 'a # b', ' padded ', '"quoted"', 'back\\slash', '']) {
      const t = setKey(FILE, 'server', 'description', v);
      expect(value(t, 'server', 'description')).toBe(v);
    }
    expect(encodeValue('plain value')).toBe('plain value');
    expect(encodeValue('a;b')).toBe('"a;b"');
    expect(() => encodeValue('a\nb')).toThrow(/line break/);
    expect(() => setKey(FILE, 'server', 'bad key', 'x')).toThrow(/key name/);
  });

  it('refuses to edit a key set twice or a section that appears twice', () => {
    expect(() => setKey('[a]\nk = 1\nk = 2\n', 'a', 'k', '3')).toThrow(/set 2 times/);
    expect(() => setKey('[a]\n[a]\n', 'a', 'k', '3')).toThrow(/appears 2 times/);
  });

  it('adds and removes sections, leaving the comments about what follows', () => {
    expect(addSection(FILE, 'ping')).toBe(`${FILE}\n[ping]\n`);
    expect(addSection(FILE, 'power')).toBe(FILE);
    expect(removeSection(FILE, 'power')).toBe('; top comment\n[server]\n  host=a.example   ; inline note\ndescription = x\n\n; about power\n');
    expect(removeSection(FILE, 'server')).toBe('; top comment\n\n; about power\n[power]\ndevice = pdu-a\noutlet = 1\n');
    expect(applyEdits(FILE, [{ op: 'remove-section', section: 'nope' }, { op: 'unset', section: 'server', key: 'nope' }])).toBe(FILE);
  });

  it('masks secrets, and puts a [secret] placeholder back to the stored line', () => {
    const stored = '[device]\ntype = snmp-pdu\ncommunity = s3cret ; ro\n';
    const isSecret = secretPredicate(new Set(['device\0community']));
    const masked = maskText(stored, isSecret);
    expect(masked).toBe('[device]\ntype = snmp-pdu\ncommunity = [secret] ; ro\n');
    expect(restoreSecrets(masked, stored, isSecret)).toBe(stored);
    expect(restoreSecrets(masked.replace('snmp-pdu', 'sim'), stored, isSecret)).toBe(stored.replace('snmp-pdu', 'sim'));
    expect(() => restoreSecrets('[device]\npassword = [secret]\n', stored, isSecret)).toThrow(/none stored/);
    // A secret-looking name is masked even where no schema says so.
    expect(maskText('[bmc]\npassword = hunter2\n', none)).toBe('[bmc]\npassword = [secret]\n');
  });

  it('diffs by line, secrets masked', () => {
    const a = '[d]\nx = 1\ncommunity = old\ny = 2\n';
    const b = '[d]\nx = 1\ncommunity = new\ny = 3\nz = 4\n';
    expect(diffLines(a, b, none)).toEqual({
      added: 3,
      removed: 2,
      lines: [
        { op: '-', line: 3, text: 'community = [secret]' },
        { op: '-', line: 4, text: 'y = 2' },
        { op: '+', line: 3, text: 'community = [secret]' },
        { op: '+', line: 4, text: 'y = 3' },
        { op: '+', line: 5, text: 'z = 4' },
      ],
    });
    expect(diffLines(null, '[a]\n', none)).toEqual({ added: 1, removed: 0, lines: [{ op: '+', line: 1, text: '[a]' }] });
  });
});
