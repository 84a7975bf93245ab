/**
 * Keeping secrets out of logs and results: the API key a policy sends, and credentials in a
 * server URL that a run folder records (eval and curation configs).
 */

/** Replace every occurrence of the secret in a text. */
export function redact(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4) return text;
  return text.split(secret).join("***");
}

/** Drop credentials from a URL before it is saved anywhere. */
export function scrubUrl(url: string | undefined): string | undefined {
  if (!url) return url;
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = "***";
      u.password = "";
    }
    for (const k of [...u.searchParams.keys()]) if (/key|token|secret/i.test(k)) u.searchParams.set(k, "***");
    return u.toString();
  } catch {
    return url;
  }
}
