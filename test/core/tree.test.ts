import { describe, expect, it } from 'vitest';
import { ServerTree } from '../../src/core/tree.js';

// storage before the VM hosts that mount it; web needs db and a VM host
const LAB = [
  { name: 'switch', dependencies: [] },
  { name: 'storage', dependencies: ['switch'] },
  { name: 'db', dependencies: ['switch', 'storage'] },
  { name: 'vm', dependencies: ['storage'] },
  { name: 'web', dependencies: ['db', 'vm'] },
  { name: 'backup', dependencies: ['switch'] },
];

describe('ServerTree', () => {
  const t = new ServerTree(LAB);

  it('orders dependencies before dependents, stably', () => {
    expect(t.order()).toEqual(['switch', 'storage', 'backup', 'db', 'vm', 'web']);
  });
  it('answers direct dependencies and dependents; the closure gives the transitive ones', () => {
    expect(t.dependencies('web')).toEqual(['db', 'vm']);
    expect(t.dependents('storage')).toEqual(['db', 'vm']);
    expect(t.closure(['web'], 'on')).toEqual(['switch', 'storage', 'db', 'vm', 'web']);
    expect(t.closure(['storage'], 'off')).toEqual(['web', 'vm', 'db', 'storage']);
    expect(t.closure(['web'], 'off')).toEqual(['web']);
  });
  it('gives the closure to switch on: the target and what it needs, dependencies first', () => {
    expect(t.closure(['vm'], 'on')).toEqual(['switch', 'storage', 'vm']);
    expect(t.closure(['web', 'backup'], 'on')).toEqual(['switch', 'storage', 'backup', 'db', 'vm', 'web']);
  });
  it('gives the closure to switch off: the target and what needs it, dependents first', () => {
    expect(t.closure(['storage'], 'off')).toEqual(['web', 'vm', 'db', 'storage']);
    expect(t.closure(['web'], 'off')).toEqual(['web']);
  });
  it('rejects unknown servers by name', () => {
    expect(() => t.dependencies('nas')).toThrow(/no server "nas"/);
    expect(() => t.closure(['nas'], 'on')).toThrow(expect.objectContaining({ code: 'OCKLE_TREE_UNKNOWN_SERVER' }));
    expect(() => new ServerTree([{ name: 'a', dependencies: ['ghost'] }])).toThrow(/ghost/);
  });
});

describe('ServerTree and cycles', () => {
  it('refuses to build a tree with a cycle, naming it', () => {
    expect(() => new ServerTree([{ name: 'a', dependencies: ['b'] }, { name: 'b', dependencies: ['a'] }])).toThrow('dependency cycle: a → b → a');
  });
});
