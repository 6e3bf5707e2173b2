import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { PositionedError } from '../../errors.js';
import { loadExperiment } from '../../experiments/load.js';
import { compilePolicy } from '../../policy/compile.js';

/**
 * `faultline validate FILE...`: exit 0 when every file is valid, else 1 with FILE:LINE:COL
 * lines. Policies, and experiment files (`kind: Experiment`).
 */
export function register(program: Command): void {
  program
    .command('validate')
    .description('check policy (or experiment) files; prints FILE:LINE:COL: message for each problem')
    .argument('<files...>', 'policy files')
    .action(async (files: string[]) => {
      let failed = false;
      for (const file of files) {
        try {
          const text = await readFile(file, 'utf8');
          if (/^kind:\s*["']?Experiment["']?\s*$/m.test(text)) loadExperiment(text, file);
          else compilePolicy(text, file);
          process.stdout.write(`${file}: ok\n`);
        } catch (err) {
          failed = true;
          if (err instanceof PositionedError) process.stdout.write(`${err.lines().join('\n')}\n`);
          else process.stdout.write(`${file}:1:1: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message}\n`);
        }
      }
      process.exitCode = failed ? 1 : 0;
    });
}
