/** A plain aligned text table: a header row, then one line per row; long cells are cut with an ellipsis. */
export function table(headers: string[], rows: (string | number | null | undefined)[][], maxWidth = 60): string {
  const cells = rows.map((row) =>
    row.map((cell) => {
      const text = cell === null || cell === undefined || cell === '' ? '-' : String(cell).replace(/\s+/g, ' ');
      return text.length > maxWidth ? `${text.slice(0, maxWidth - 1)}…` : text;
    }),
  );
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** Key–value lines for one record. */
export function fields(pairs: [string, string | number | null | undefined][]): string {
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${`${key}:`.padEnd(width + 1)} ${value === null || value === undefined || value === '' ? '-' : value}`).join('\n');
}
