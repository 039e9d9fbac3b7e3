/** findCycle: the pure graph function under both the config loader and the core. */
import { describe, expect, it } from 'vitest';
import { findCycle } from '../src/graph.js';

describe('findCycle', () => {
  it('names a cycle from where it starts, closing it', () => {
    expect(findCycle([{ name: 'a', dependencies: ['b'] }, { name: 'b', dependencies: ['c'] }, { name: 'c', dependencies: ['a'] }])).toEqual(['a', 'b', 'c', 'a']);
  });
  it('finds a self-loop', () => {
    expect(findCycle([{ name: 'a', dependencies: ['a'] }])).toEqual(['a', 'a']);
  });
  it('finds a cycle not reachable from the first node', () => {
    expect(
      findCycle([
        { name: 'x', dependencies: [] },
        { name: 'a', dependencies: ['b'] },
        { name: 'b', dependencies: ['a'] },
      ]),
    ).toEqual(['a', 'b', 'a']);
  });
  it('finds none in a diamond, and ignores names that are not nodes', () => {
    const diamond = [
      { name: 'top', dependencies: ['left', 'right'] },
      { name: 'left', dependencies: ['bottom'] },
      { name: 'right', dependencies: ['bottom', 'elsewhere'] },
      { name: 'bottom', dependencies: [] },
    ];
    expect(findCycle(diamond)).toBeUndefined();
  });
});
