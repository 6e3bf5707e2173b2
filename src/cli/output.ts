import { Option } from 'commander';
import { stringify } from 'yaml';

/**
 * Where the commands that print results write: the process's stdout and stderr. One indirection
 * so that tests can run a command in their own process and read what it printed.
 */
export const output = {
  stdout(text: string): void {
    process.stdout.write(text);
  },
  stderr(text: string): void {
    process.stderr.write(text);
  },
};

/** The machine-readable formats of `-o`, beside each command's own text. */
export type DataFormat = 'text' | 'json' | 'yaml';

/** `-o, --output text|json|yaml` (text: the command's own lines), refused with the list otherwise. */
export function dataFormatOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'yaml']).default('text');
}

/** Prints `data` as JSON or YAML (`-o json|yaml`); `text` prints `text()` instead. */
export function printData(format: DataFormat, data: unknown, text: () => string): void {
  if (format === 'json') output.stdout(`${JSON.stringify(data, null, 2)}\n`);
  else if (format === 'yaml') output.stdout(stringify(data, { lineWidth: 0 }));
  else output.stdout(text());
}
