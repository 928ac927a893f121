// A list read a page at a time, newest first, whose first page is read again while it changes.

/**
 * The list after its first page was read again: the fresh page first, then every entry already
 * shown that the page does not hold (pages opened beyond it keep what they showed, even when new
 * entries push the page's boundary down). `key` names an entry's id.
 */
export function withFreshFirstPage(shown, freshPage, key) {
  const fresh = new Set(freshPage.map((entry) => entry[key]));
  return [...freshPage, ...shown.filter((entry) => !fresh.has(entry[key]))];
}

/** The list with a further page appended, leaving out entries it already shows. */
export function withNextPage(shown, page, key) {
  const present = new Set(shown.map((entry) => entry[key]));
  return [...shown, ...page.filter((entry) => !present.has(entry[key]))];
}

// A search reads the tenant's items with a filter: a page may come back empty while more follow.
const EMPTY_PAGE_READS = 10;

/**
 * A page of `key` entries from `read(token)`, reading on past empty pages (a search's page may
 * hold none while `next_token` is not null) until one holds entries, the list ends, or `reads`
 * pages were read: {entries, next_token}.
 */
export async function filledPage(read, token, key, reads = EMPTY_PAGE_READS) {
  let page = await read(token);
  let count = 1;
  while (page[key].length === 0 && page.next_token && count < reads) {
    page = await read(page.next_token);
    count += 1;
  }
  return { entries: page[key], next_token: page.next_token };
}
