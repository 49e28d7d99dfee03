// The key-value map of the state machine, with images taken without copying it (copy-on-write).
//
// Copying a 100,000-key map for every snapshot made about 3 MB of garbage per image (the copy,
// and the tables it outgrew), every 2 s at 5,000 writes/s: that copy was a quarter of what reached
// V8's old generation, and made V8 let the heap grow to about 4 times the live data before
// collecting it. Taking an image here costs O(1); a write pays for it instead, once per key:
//
//   - Each image starts a layer. While it is the newest, the first write of each key records the
//     key's value from before the write in it (undefined: the key did not exist).
//   - An image reads a key from the oldest layer at or after its own that recorded it (the value
//     the key had when the image was taken), else from the live map.
//   - Keys are never deleted, so the keys of an image are exactly the first `size` keys of the
//     live map, in the same order a copy would have had: iterating it walks those.
//
// Memory. A layer holds at most one record per key written while it was the newest: with a
// snapshot every N entries, at most N. Layers link from older to newer, and the map holds only
// the newest, so a layer lives while an image at or before it does. An image held for long (a
// snapshot streamed to a slow follower) would keep ever more layers; so whenever an image is
// taken, every older one still reachable whose layers hold more records than it has keys is
// detached: it copies its content once and drops its layers. The map finds them through weak
// references (WeakRef): garbage collection decides only when a long-held image is copied,
// never what any image contains.
//
// A small map is copied instead (at most copyKeysMax keys): its image is its own Map from the
// start, with no layer, no weak reference and no record per first write. With a few keys every
// layered image was detached (copied) at the next image anyway, since its layers soon held more
// records than it had keys; the layers only added a lookup to every write, and a weak reference,
// a layer and a later copy through the entries generator to every image (the simulator takes
// thousands of images of a few keys). Keys are never deleted, so a map that has
// outgrown copyKeysMax takes layers from then on (until a reset); either kind of image holds the
// content as of its taking, so which kind an image is never changes what it reads.

/** The values keys had when one image was taken, recorded as each key is first written after it. */
class Layer {
  /** key -> its value when the layer began (undefined: the key did not exist then). */
  readonly before = new Map<string, string | undefined>();
  /** The next newer layer, once a later image was taken. */
  next: Layer | null = null;
  /** The map's count of records made in all layers before this one began. */
  constructor(readonly recordsBefore: number) {}
}

/** The default of copyKeysMax: a copy of this many keys is about 40 KB and tens of microseconds. */
const COPY_KEYS_MAX = 1_000;

/** A string map whose images share its storage, or are copies while it is small; no deletes (see above). */
export class VersionedMap {
  private live = new Map<string, string>();
  private newest: Layer | null = null;
  /** Records made in all layers so far (of this live map). */
  private recordCount = 0;
  private readonly images: WeakRef<MapImage>[] = [];

  /** `copyKeysMax`: an image of a map of at most this many keys is a copy (tests pass 0 to exercise the layers). */
  constructor(private readonly copyKeysMax: number = COPY_KEYS_MAX) {}

  get(key: string): string | undefined {
    return this.live.get(key);
  }

  get size(): number {
    return this.live.size;
  }

  set(key: string, value: string): void {
    const layer = this.newest;
    if (layer !== null && !layer.before.has(key)) {
      layer.before.set(key, this.live.get(key));
      this.recordCount += 1;
    }
    this.live.set(key, value);
  }

  /** Replaces the content by a copy of `entries`. Earlier images keep theirs (their live map is no longer written). */
  reset(entries: Iterable<readonly [string, string]>): void {
    this.live = new Map(entries);
    this.newest = null;
    this.recordCount = 0;
    this.images.length = 0; // their layers no longer grow
  }

  /** The content as of now, unchanged by later writes. */
  image(): MapImage {
    if (this.live.size <= this.copyKeysMax) return new MapImage(copyOf(this.live), null, this.live.size);
    this.detachCostlyImages();
    const layer = new Layer(this.recordCount);
    if (this.newest !== null) this.newest.next = layer;
    this.newest = layer;
    const image = new MapImage(this.live, layer, this.live.size);
    this.images.push(new WeakRef(image));
    return image;
  }

  /** Images whose layers hold more records than they have keys copy their content and let go of the layers. */
  private detachCostlyImages(): void {
    let kept = 0;
    for (const ref of this.images) {
      const image = ref.deref();
      if (image === undefined || image.detached) continue;
      if (this.recordCount - image.recordsBefore > image.size) {
        image.detach();
        continue;
      }
      this.images[kept++] = ref;
    }
    this.images.length = kept;
  }
}

/**
 * A copy of a map, in its order, made by set: the Map constructor given a Map took 4,300
 * instructions for six keys, this 3,100 (the simulator copies a small map for most of its
 * thousands of images a run).
 */
function copyOf(live: ReadonlyMap<string, string>): Map<string, string> {
  const copy = new Map<string, string>();
  for (const [key, value] of live) copy.set(key, value);
  return copy;
}

/** The map's content when the image was taken; a ReadonlyMap that never changes. */
export class MapImage implements ReadonlyMap<string, string> {
  private layer: Layer | null;
  readonly recordsBefore: number;

  constructor(
    /** The live map (its first `size` keys are this image's), or this image's own copy (detached, or taken as a copy). */
    private source: ReadonlyMap<string, string>,
    /** Null: source is this image's own copy. */
    layer: Layer | null,
    readonly size: number,
  ) {
    this.layer = layer;
    this.recordsBefore = layer === null ? 0 : layer.recordsBefore;
  }

  get detached(): boolean {
    return this.layer === null;
  }

  get(key: string): string | undefined {
    for (let l = this.layer; l !== null; l = l.next) {
      if (l.before.has(key)) return l.before.get(key);
    }
    return this.source.get(key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Copies the content; the layers are no longer needed by this image. */
  detach(): void {
    if (this.layer === null) return;
    const copy = new Map(this.entries());
    this.source = copy;
    this.layer = null;
  }

  *entries(): IterableIterator<[string, string]> {
    const source = this.source; // a detach during the iteration leaves the order as it is
    let left = this.size;
    for (const key of source.keys()) {
      if (left === 0) return;
      left -= 1;
      yield [key, this.get(key)!];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  forEach(callback: (value: string, key: string, map: ReadonlyMap<string, string>) => void): void {
    for (const [key, value] of this.entries()) callback(value, key, this);
  }
}
