import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { PositionedError } from '../../errors.js';
import { output } from '../output.js';
import { loadExperiment } from '../../experiments/load.js';
import { parse } from 'yaml';
import { faultPolicySpecSchema, hasSelection, selectionProblems, selectionShape } from '../../faultpolicy/resource.js';
import { compilePolicy } from '../../policy/compile.js';
import { locateField } from '../../policy/load.js';

/** A FaultPolicy resource (selector, mode, value): the policy loader with the selection fields, then what its schema cannot say. */
function validateResource(text: string, file: string): string[] {
  compilePolicy(text, file, { specExtension: selectionShape, kernelFaults: true });
  const spec = faultPolicySpecSchema.parse((parse(text) as { spec: unknown }).spec);
  return selectionProblems(spec).map((problem) => {
    const key = /^spec\.([a-z]+)/.exec(problem)?.[1] ?? 'spec';
    const { line, col } = locateField(text, ['spec', key]);
    return `${file}:${line}:${col}: ${problem}`;
  });
}

function isResource(text: string): boolean {
  try {
    return hasSelection(parse(text));
  } catch {
    return false;
  }
}

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
          else if (isResource(text)) {
            const problems = validateResource(text, file);
            if (problems.length > 0) {
              failed = true;
              output.stdout(`${problems.join('\n')}\n`);
              continue;
            }
          } else compilePolicy(text, file);
          output.stdout(`${file}: ok\n`);
        } catch (err) {
          failed = true;
          if (err instanceof PositionedError) output.stdout(`${err.lines().join('\n')}\n`);
          else output.stdout(`${file}:1:1: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message}\n`);
        }
      }
      process.exitCode = failed ? 1 : 0;
    });
}
