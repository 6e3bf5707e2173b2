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
