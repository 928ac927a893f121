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
