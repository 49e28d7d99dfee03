// Small helpers of the text formats (logs.txt, metadata.txt, snapshot.txt, member lists): one
// spelling of a count, and a short quotation of a bad field for error messages.

/** A decimal integer >= min with no sign or leading zero, or null. */
export function parseCount(text: string, min: number): number | null {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= min ? n : null;
}

export function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
}
