import { describe, expect, it } from 'vitest';
import { planMemory } from '../src/runtime/planner';

// A residual block as the graph builds it: x → a → b, and b's conv adds x in place.
const bytes = new Map([
  ['x', 400],
  ['a', 100],
  ['b', 400],
  ['y', 100],
]);

describe('memory planner', () => {
  it('gives an in-place output its residual’s buffer, and counts the two largest live tensors', () => {
    const plan = planMemory(
      [
        { inputs: ['x'], output: 'a' },
        { inputs: ['a'], output: 'b', inPlace: 'x' },
        { inputs: ['b'], output: 'y' },
      ],
      bytes,
      ['x'],
      ['y'],
    );
    expect(plan.slotOf.get('b')).toBe(plan.slotOf.get('x'));
    // x and a live together (500); b replaces x, so b with a is 500 again, and b with y 500.
    expect(plan.largestLivePairBytes).toBe(500);
    expect(plan.largestLiveBytes).toBe(500);
    expect(plan.totalBytes).toBe(500);
    expect(plan.unplannedBytes).toBe(1000);
  });

  it('counts every live tensor at the fullest step, beyond the largest two', () => {
    // A bottleneck's shape: x is read again by the last step, so x, a and b are all live when b is written.
    const plan = planMemory(
      [
        { inputs: ['x'], output: 'a' },
        { inputs: ['a'], output: 'b' },
        { inputs: ['b', 'x'], output: 'y' },
      ],
      bytes,
      ['x'],
      ['y'],
    );
    expect(plan.largestLivePairBytes).toBe(800);
    expect(plan.largestLiveBytes).toBe(900);
    expect(plan.totalBytes).toBeGreaterThanOrEqual(900);
  });

  it('refuses to overwrite a tensor that a later step still reads', () => {
    const steps = [
      { inputs: ['x'], output: 'a' },
      { inputs: ['a'], output: 'b', inPlace: 'x' },
      { inputs: ['b', 'x'], output: 'y' },
    ];
    expect(() => planMemory(steps, bytes, ['x'], ['y'])).toThrow(/b cannot overwrite x/);
  });
});
