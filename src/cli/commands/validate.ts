import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { PolicyError } from '../../errors.js';
import { compilePolicy } from '../../policy/compile.js';

/** `faultline validate FILE...`: exit 0 when every file is valid, else 1 with FILE:LINE:COL lines. */
export function register(program: Command): void {
  program
    .command('validate')
    .description('check policy files; prints FILE:LINE:COL: message for each problem')
    .argument('<files...>', 'policy files')
    .action(async (files: string[]) => {
      let failed = false;
      for (const file of files) {
        try {
          compilePolicy(await readFile(file, 'utf8'), file);
          process.stdout.write(`${file}: ok\n`);
        } catch (err) {
          failed = true;
          if (err instanceof PolicyError) process.stdout.write(`${err.lines().join('\n')}\n`);
          else process.stdout.write(`${file}:1:1: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message}\n`);
        }
      }
      process.exitCode = failed ? 1 : 0;
    });
}
