import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { PositionedError } from '../../errors.js';
import { dataFormatOption, printData, type DataFormat } from '../output.js';
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

/** What `faultline validate` found in one file: ok, or its problems as FILE:LINE:COL lines. */
interface FileResult {
  file: string;
  ok: boolean;
  problems: string[];
}

async function validateFile(file: string): Promise<FileResult> {
  try {
    const text = await readFile(file, 'utf8');
    if (/^kind:\s*["']?Experiment["']?\s*$/m.test(text)) loadExperiment(text, file);
    else if (isResource(text)) {
      const problems = validateResource(text, file);
      if (problems.length > 0) return { file, ok: false, problems };
    } else compilePolicy(text, file);
    return { file, ok: true, problems: [] };
  } catch (err) {
    if (err instanceof PositionedError) return { file, ok: false, problems: err.lines() };
    return { file, ok: false, problems: [`${file}:1:1: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message}`] };
  }
}

/**
 * `faultline validate FILE...`: exit 0 when every file is valid, else 1 with FILE:LINE:COL
 * lines (or, with -o json|yaml, a list of {file, ok, problems}). Policies, FaultPolicy
 * resources, and experiment files (`kind: Experiment`).
 */
export function register(program: Command): void {
  program
    .command('validate')
    .description('check policy (or experiment) files; prints FILE:LINE:COL: message for each problem')
    .argument('<files...>', 'policy files')
    .addOption(dataFormatOption())
    .action(async (files: string[], flags: { output: DataFormat }) => {
      const results: FileResult[] = [];
      for (const file of files) results.push(await validateFile(file));
      printData(flags.output, results, () => results.map((r) => `${r.ok ? `${r.file}: ok` : r.problems.join('\n')}\n`).join(''));
      process.exitCode = results.every((r) => r.ok) ? 0 : 1;
    });
}
