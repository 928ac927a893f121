// What the console writes into SQL, and where a refused query's error points.

// The editor's text for this tab (sessionStorage): the Query page keeps it, Tables → Query sets it.
export const DRAFT_KEY = "sdp.draft";

/** A table or column name as Trino reads it: bare when it is a plain lower-case name, else quoted. */
export function quoteIdentifier(name) {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

const WORD = /[A-Za-z0-9_]/;

/**
 * Where a syntax error points: the guard's column is where the parser stopped, the end of a word, so
 * the whole word ending there is marked. Offsets into `sql`, `from` inclusive and `to` exclusive; null
 * when the line is not in the text.
 */
export function errorRange(sql, line, column) {
  const lines = sql.split("\n");
  if (!(line >= 1 && line <= lines.length)) return null;
  // The guard counts characters as Python does (code points); the editor counts UTF-16 units.
  const text = Array.from(lines[line - 1]);
  const end = Math.max(1, Math.min(column || 1, text.length));
  let start = end;
  while (start > 1 && WORD.test(text[start - 2] ?? "") && WORD.test(text[end - 1] ?? "")) start -= 1;
  let lineStart = 0;
  for (let index = 0; index < line - 1; index += 1) lineStart += lines[index].length + 1;
  const units = (characters) => text.slice(0, characters).join("").length;
  return { from: lineStart + units(start - 1), to: Math.min(lineStart + units(end), sql.length), start, end };
}

/** The line the error is on with carets under the marked word, as the CLI prints it. */
export function pointAt(sql, line, column) {
  const range = errorRange(sql, line, column);
  if (!range) return "";
  const gutter = `${line} | `;
  const text = sql.split("\n")[line - 1];
  return `${gutter}${text}\n${" ".repeat(gutter.length + range.start - 1)}${"^".repeat(range.end - range.start + 1)}`;
}
