import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

// ---------------------------------------------------------------------------------------------------------
// Randomness. Each concern draws from its own stream, jumped 2^64 steps apart, so that asking for more
// customers, say, does not reshuffle which products are popular.

export interface RandomStreams {
  products: RandomGenerator;
  customers: RandomGenerator;
  calendar: RandomGenerator;
  transactions: RandomGenerator;
}

export function randomStreams(seed: number): RandomStreams {
  const root = xoroshiro128plus(seed);
  const next = () => {
    root.jump();
    return root.clone();
  };
  return { products: next(), customers: next(), calendar: next(), transactions: next() };
}

/** A uniform number in [0, 1). */
export const unit = (rng: RandomGenerator) => uniformFloat64(rng);

export function shuffledIndices(size: number, rng: RandomGenerator): Int32Array {
  const indices = new Int32Array(size);
  for (let i = 0; i < size; i++) indices[i] = i;
  for (let i = size - 1; i > 0; i--) {
    const j = uniformInt(rng, 0, i);
    const swap = indices[i]!;
    indices[i] = indices[j]!;
    indices[j] = swap;
  }
  return indices;
}

/**
 * Index of the first entry of `cumulative[0..size)` above `target`, i.e. a draw weighted by the increments.
 * Weights are integers, so the running sums are exact and the draw does not depend on float rounding.
 */
export function pickWeighted(cumulative: Float64Array, size: number, target: number): number {
  let low = 0;
  let high = size - 1;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (cumulative[middle]! > target) high = middle;
    else low = middle + 1;
  }
  return low;
}

export function cumulativeOf(weights: ArrayLike<number>): Float64Array {
  const cumulative = new Float64Array(weights.length);
  let sum = 0;
  for (let i = 0; i < weights.length; i++) {
    sum += weights[i]!;
    cumulative[i] = sum;
  }
  return cumulative;
}
