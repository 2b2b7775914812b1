/** One row of a Markdown table. */
export const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
