// How sizes, rates, counts and times read in the console.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function formatRate(bytesPerSecond) {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

export function formatCount(count) {
  return count === null || count === undefined ? "" : count.toLocaleString("en-US");
}

/** Seconds as "0.4 s", "12 s", "3 min 05 s". */
export function formatDuration(milliseconds) {
  const seconds = milliseconds / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
}

/** An ISO time as the reader's local date and time, to the second, year first ("2026-12-03 16:44:20"). */
export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString("sv-SE");
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An ISO time's day in UTC, as "1 Jan" (with `year`, "1 Jan 2027"): when a month's budget starts again. */
export function formatDay(iso, { year = false } = {}) {
  const date = new Date(iso ?? "");
  if (Number.isNaN(date.getTime())) return iso ?? "";
  const day = `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}`;
  return year ? `${day} ${date.getUTCFullYear()}` : day;
}

/** US dollars: cents for a dollar or more, two significant digits under a cent ("$0.000048"). */
export function formatUsd(amount) {
  if (amount === null || amount === undefined || !Number.isFinite(amount)) return "";
  if (amount === 0) return "$0";
  if (amount >= 0.01) return `$${amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  const digits = Math.max(2, 1 - Math.floor(Math.log10(amount)));
  return `$${Number(amount.toPrecision(2)).toFixed(digits).replace(/0+$/, "")}`;
}

/** `part` of `whole` as a percentage for a person: "0%", "<1%", "37%", "100%" (more when over). */
export function formatShare(part, whole) {
  if (!whole || whole <= 0) return "";
  const share = (part / whole) * 100;
  if (share === 0) return "0%";
  if (share < 1) return "<1%";
  return `${Math.floor(share)}%`;
}
