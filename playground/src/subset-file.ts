/** The data file served beside the page, fetched once by the page (no normlab imports here: this runs in the page's thread). */
export const SUBSET_FILE = 'mnist-subset.bin.gz';

/** Gzip's magic bytes: a server that decoded the file already hands over the plain bytes. */
function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The subset file's uncompressed bytes. */
export async function fetchSubset(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}; build the playground first (npm run build)`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (!isGzip(bytes)) return bytes;
  const plain = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(plain).arrayBuffer());
}
