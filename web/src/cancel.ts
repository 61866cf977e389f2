/**
 * A stop request that the worker sees between two sampling steps. In a cross-origin isolated
 * page the flag is shared memory, read without waiting; elsewhere the worker gives its message
 * queue a turn before each step so that the cancel message is handled.
 */

export interface StopFlag {
  /** Shared with the worker when SharedArrayBuffer exists; else undefined. */
  shared?: SharedArrayBuffer;
}

export function createStopFlag(): StopFlag {
  return typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated
    ? { shared: new SharedArrayBuffer(4) }
    : {};
}

export function raiseStopFlag(flag: StopFlag): void {
  if (flag.shared) Atomics.store(new Int32Array(flag.shared), 0, 1);
}

/** Whether a stop was asked for through the shared flag or a message (`requested`). */
export function stopRequested(flag: StopFlag, requested: boolean): boolean {
  return requested || (flag.shared !== undefined && Atomics.load(new Int32Array(flag.shared), 0) === 1);
}

/** One turn of the event loop, so that messages queued meanwhile are handled. */
export function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
