import { expect } from 'vitest';
import { WeightsError } from '../src/node';

/** The error a promise rejects with, checked to be a WeightsError. */
export async function weightsError(promise: Promise<unknown>): Promise<WeightsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WeightsError);
  return error as WeightsError;
}
