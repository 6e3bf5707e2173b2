import { output } from '../../src/cli/output.js';
import { main } from '../../src/cli/program.js';

/** What a command printed and how it exited. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs `faultline ARGS` in this process (the same program the binary runs), capturing what it
 * prints: many times faster than a child process, for tests that run dozens of commands. One at
 * a time; `env` is set for the run only. Commands that need a process of their own (a signal, a
 * long-running daemon) go through runCli / startDaemon instead.
 */
export function cli(args: string[], options: { env?: Record<string, string> } = {}): Promise<CliResult> {
  const run = queue.then(async () => {
    const saved = { stdout: output.stdout, stderr: output.stderr };
    const env = Object.fromEntries(Object.keys(options.env ?? {}).map((k) => [k, process.env[k]]));
    let stdout = '';
    let stderr = '';
    output.stdout = (text) => void (stdout += text);
    output.stderr = (text) => void (stderr += text);
    Object.assign(process.env, options.env);
    process.exitCode = undefined;
    try {
      const code = await main(args);
      return { code, stdout, stderr };
    } finally {
      Object.assign(output, saved);
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      process.exitCode = undefined;
    }
  });
  queue = run.catch(() => undefined);
  return run;
}
