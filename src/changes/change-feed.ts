/**
 * Where changes to the data are heard: the change listener (change-listener.ts) in a gateway. The response
 * cache keys answers by its version; subscriptions recompute their live queries and the cost of open-ended
 * revenue series is read again when it announces a change.
 */
export interface ChangeFeed {
  /** Calls `listener` after every announced change; returns the function that stops calling it. */
  onChange(listener: () => void): () => void;
}
