/**
 * Activation memory planning by liveness: a tensor lives from the step that writes it to the last
 * step that reads it, and tensors whose lives do not overlap share a buffer ("slot"). Greedy
 * best-fit in execution order; a slot grows to the largest tensor it ever holds. A step marked
 * in place (a conv adding its residual) writes its output into that residual's slot.
 */
export interface MemoryPlan {
  /** Slot index of each tensor. */
  slotOf: Map<string, number>;
  slotBytes: number[];
  totalBytes: number;
  /** What one buffer per tensor would have cost, for comparison. */
  unplannedBytes: number;
  /** The two largest activations alive at the same time, summed. */
  largestLivePairBytes: number;
  /** Every activation alive at the fullest step, summed: the least any plan of these steps in this order could hold. */
  largestLiveBytes: number;
}

export interface PlanStep {
  inputs: string[];
  output: string;
  /** Input whose last use this is and whose buffer the output takes (same size). */
  inPlace?: string;
}

export function planMemory(steps: PlanStep[], tensorBytes: Map<string, number>, graphInputs: string[], graphOutputs: string[]): MemoryPlan {
  const lastUse = new Map<string, number>();
  steps.forEach((step, i) => [...step.inputs, ...(step.inPlace ? [step.inPlace] : [])].forEach((t) => lastUse.set(t, i)));
  for (const t of graphOutputs) lastUse.set(t, Infinity);

  const slotOf = new Map<string, number>();
  const slotBytes: number[] = [];
  const free: number[] = [];
  /** Tensors written and not yet read for the last time, for largestLivePairBytes and largestLiveBytes. */
  const live = new Set<string>();
  let largestLivePairBytes = 0;
  let largestLiveBytes = 0;
  const bytes = (t: string): number => {
    const b = tensorBytes.get(t);
    if (b === undefined) throw new Error(`planner: no size for tensor ${t}`);
    return b;
  };
  const allocate = (t: string): void => {
    const need = bytes(t);
    // Best fit among free slots big enough; else grow the largest free slot; else a new slot.
    let pick = -1;
    for (const s of free) if (slotBytes[s] >= need && (pick < 0 || slotBytes[s] < slotBytes[pick])) pick = s;
    if (pick < 0) for (const s of free) if (pick < 0 || slotBytes[s] > slotBytes[pick]) pick = s;
    if (pick < 0) {
      pick = slotBytes.length;
      slotBytes.push(0);
    } else {
      free.splice(free.indexOf(pick), 1);
    }
    slotBytes[pick] = Math.max(slotBytes[pick], need);
    slotOf.set(t, pick);
    live.add(t);
  };
  const retire = (t: string): void => {
    free.push(slotOf.get(t)!);
    live.delete(t);
  };
  const release = (t: string, i: number): void => {
    if (lastUse.get(t) === i) retire(t);
  };

  for (const t of graphInputs) allocate(t);
  for (const t of graphInputs) if (!lastUse.has(t)) retire(t);
  steps.forEach((step, i) => {
    // The output is allocated while the inputs are still held: kernels run in place only where a step says so.
    if (step.inPlace) {
      if (lastUse.get(step.inPlace) !== i || bytes(step.inPlace) !== bytes(step.output)) {
        throw new Error(`planner: ${step.output} cannot overwrite ${step.inPlace} (read later, or another size)`);
      }
      slotOf.set(step.output, slotOf.get(step.inPlace)!);
      live.delete(step.inPlace);
      live.add(step.output);
    } else {
      allocate(step.output);
    }
    const liveBytes = [...live].map(bytes).sort((x, y) => y - x);
    largestLivePairBytes = Math.max(largestLivePairBytes, (liveBytes[0] ?? 0) + (liveBytes[1] ?? 0));
    largestLiveBytes = Math.max(largestLiveBytes, liveBytes.reduce((a, b) => a + b, 0));
    for (const t of new Set(step.inputs)) if (t !== step.inPlace) release(t, i);
    if (!lastUse.has(step.output)) retire(step.output);
  });
  const totalBytes = slotBytes.reduce((a, b) => a + b, 0);
  let unplannedBytes = 0;
  for (const t of slotOf.keys()) unplannedBytes += bytes(t);
  return { slotOf, slotBytes, totalBytes, unplannedBytes, largestLivePairBytes, largestLiveBytes };
}
