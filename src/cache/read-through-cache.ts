import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';

/**
 * A local copy in front of a shared cache, for entries that never change once written (a persisted query's
 * text under its own SHA-256): after the first read, no round trip to Redis.
 */
export class ReadThroughCache implements KeyValueCache<string> {
  constructor(
    private readonly local: KeyValueCache<string>,
    private readonly shared: KeyValueCache<string>,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const near = await this.local.get(key);
    if (near !== undefined) return near;
    const far = await this.shared.get(key);
    if (far !== undefined) await this.local.set(key, far);
    return far;
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    await Promise.all([this.local.set(key, value, options), this.shared.set(key, value, options)]);
  }

  async delete(key: string): Promise<boolean> {
    const [near, far] = await Promise.all([this.local.delete(key), this.shared.delete(key)]);
    return Boolean(near) || Boolean(far);
  }
}
